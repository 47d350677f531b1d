"""End to end: push-to-lead latency across many portals, and fairness while one portal is flooded.

Every part runs as its own process on this machine and talks HTTP: Redis, PostgreSQL (a throw-away
cluster when the server binaries are installed, else SQLite — the output says which), the web app under
gunicorn with the production settings (gunicorn.conf.py), two RQ workers and the scheduler, and the
sandbox (20 Bitrix24 portals, each its own 2 req/s, burst 50 bucket, and the UIS Data API). A load
generator pushes UIS's default offline_message notification to each credential's hook URL.

- steady: every portal receives one offline request every 2 s for 60 s (600 events);
- flood: one portal receives 1000 requests in 10 s while the other portals keep the steady rate until
  the flood is drained.

Latency of an event = the moment its entity was added in the sandbox portal (the portal's own clock,
`created_at` in /sandbox/state.json) − the moment the push was sent. Lost and duplicated are counted
from the portals' CRM (ORIGIN_IDs), not from the app's journal. Prints a table and ends with one JSON line.

    .venv/bin/python benchmarks/e2e.py            # 20 portals, 60 s steady, 1000-event flood
    .venv/bin/python benchmarks/e2e.py --short    # 6 portals, 20 s steady, 300 events in 3 s
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bx_app.devkit.config import free_port, wait_http  # noqa: E402
from bx_app.devkit.postgres_cluster import PostgresCluster, create_database, server_bindir  # noqa: E402

CLIENT_ID, CLIENT_SECRET = "app.sandbox.uis20", "sandbox-secret"
ACCOUNT_ZONE = ZoneInfo("Europe/Moscow")
BUCKET_RATE, BUCKET_SIZE = 2.0, 50
FINAL = ("done", "skipped", "failed")


# --- the processes ---------------------------------------------------------------------------------
@dataclass
class Deployment:
    workdir: Path
    database_url: str
    workers: int
    web_workers: int
    web_threads: int
    fork_workers: bool = False
    redis_port: int = field(default_factory=free_port)
    web_port: int = field(default_factory=free_port)
    oauth_port: int = field(default_factory=free_port)
    first_portal_port: int = field(default_factory=free_port)
    uis_port: int = field(default_factory=free_port)
    procs: list[tuple[str, subprocess.Popen]] = field(default_factory=list)

    @property
    def app_url(self) -> str:
        return f"http://127.0.0.1:{self.web_port}"

    @property
    def oauth_url(self) -> str:
        return f"http://127.0.0.1:{self.oauth_port}"

    def env(self) -> dict:
        return dict(os.environ, SECRET_KEY="bench-e2e-secret", DATABASE_URL=self.database_url,
                    REDIS_URL=f"redis://127.0.0.1:{self.redis_port}/0", PUBLIC_URL=self.app_url,
                    B24_CLIENT_ID=CLIENT_ID, B24_CLIENT_SECRET=CLIENT_SECRET,
                    B24_OAUTH_URL=f"{self.oauth_url}/oauth/token/", B24_ALLOW_INSECURE_PORTALS="1",
                    UIS_DATA_API_URL=f"http://127.0.0.1:{self.uis_port}/v2.0", LOG_LEVEL="WARNING",
                    PYTHONUNBUFFERED="1")

    def spawn(self, name: str, args: list[str]) -> subprocess.Popen:
        log = open(self.workdir / f"{name}.log", "ab")  # noqa: SIM115 - closed with the process
        proc = subprocess.Popen(args, cwd=ROOT, env=self.env(), stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)
        self.procs.append((name, proc))
        return proc

    def start(self) -> None:
        self.spawn("redis", [shutil.which("redis-server"), "--port", str(self.redis_port), "--bind", "127.0.0.1",
                             "--save", "", "--appendonly", "no", "--dir", str(self.workdir)])
        sandbox = self.spawn("sandbox", [sys.executable, "-m", "bx_app.sandbox", "--host", "127.0.0.1",
                                         "--oauth-port", str(self.oauth_port),
                                         "--portal-ports", str(self.first_portal_port),
                                         "--uis-port", str(self.uis_port), "--app-url", self.app_url,
                                         "--client-id", CLIENT_ID, "--client-secret", CLIENT_SECRET])
        wait_http(f"http://127.0.0.1:{self.first_portal_port}/sandbox/state.json", timeout=60, proc=sandbox)
        subprocess.run([sys.executable, "-m", "flask", "--app", "wsgi", "db", "upgrade"], cwd=ROOT, env=self.env(),
                       check=True, capture_output=True)
        # gunicorn reads gunicorn.conf.py (the production access log) from the working directory.
        web = self.spawn("web", [str(Path(sys.executable).with_name("gunicorn")), "wsgi:app", "--bind",
                                 f"127.0.0.1:{self.web_port}", "--workers", str(self.web_workers),
                                 "--threads", str(self.web_threads)])
        wait_http(f"{self.app_url}/healthz", timeout=60, proc=web)
        for n in range(self.workers):
            self.spawn(f"worker{n + 1}", [sys.executable, "-m", "flask", "--app", "wsgi", "worker",
                                          *(["--fork"] if self.fork_workers else [])])
        self.spawn("scheduler", [sys.executable, "-m", "flask", "--app", "wsgi", "scheduler"])

    def stop(self) -> None:
        for _name, proc in self.procs[::-1]:
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGTERM)
                    proc.wait(timeout=15)
                except (ProcessLookupError, subprocess.TimeoutExpired):
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(proc.pid, signal.SIGKILL)

    def check_alive(self) -> None:
        dead = [f"{name} (exit {proc.returncode})" for name, proc in self.procs if proc.poll() is not None]
        if dead:
            raise SystemExit(f"process died: {', '.join(dead)}; logs in {self.workdir}")


# --- where the CPU goes ----------------------------------------------------------------------------
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def _proc_stats() -> list[tuple[int, int, int, float]]:
    """(pid, parent pid, session id, CPU seconds of the process and its reaped children) of every process."""
    rows = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # gone meanwhile
        # after the command: state ppid pgrp session ... utime(14) stime(15) cutime(16) cstime(17), 1-based
        cpu = sum(int(v) for v in fields[11:15]) / CLOCK_TICKS
        rows.append((int(entry.name), int(fields[1]), int(fields[3]), cpu))
    return rows


class CpuMeter:
    """CPU seconds used by each part of the deployment, from /proc: every process of a part's session
    (its own and its reaped children's time, so RQ's forked work horses count), and for PostgreSQL the
    postmaster and its backends. Figures per event do not depend on how busy the rest of the machine is."""

    def __init__(self, deployment: Deployment, cluster: PostgresCluster | None):
        self.deployment = deployment
        self.cluster = cluster

    def _postmaster(self) -> int | None:
        if self.cluster is None:
            return None
        with contextlib.suppress(OSError, ValueError, IndexError):
            return int((self.cluster.datadir / "postmaster.pid").read_text().split()[0])
        return None

    def sample(self) -> dict[str, float]:
        stats = _proc_stats()
        parts: dict[str, float] = {}
        for name, proc in self.deployment.procs:
            part = "workers" if name.startswith("worker") else name
            parts[part] = parts.get(part, 0.0) + sum(cpu for _pid, _ppid, sid, cpu in stats if sid == proc.pid)
        postmaster = self._postmaster()
        if postmaster is not None:
            parts["postgresql"] = sum(cpu for pid, ppid, _sid, cpu in stats if postmaster in (pid, ppid))
        return parts

    @staticmethod
    def spent(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
        return {part: round(after[part] - before.get(part, 0.0), 2) for part in after}


class CpuHogs:
    """`count` busy loops beside the benchmark: the machine as it is when shared with other work."""

    def __init__(self, count: int):
        self.procs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(count)]

    def stop(self) -> None:
        for proc in self.procs:
            proc.kill()
            proc.wait()


def choose_database(workdir: Path, wanted: str) -> tuple[str, str, PostgresCluster | None]:
    """(kind, URL, cluster): a throw-away PostgreSQL cluster when its binaries exist, else SQLite."""
    if wanted in ("auto", "postgresql") and server_bindir() is not None:
        cluster = PostgresCluster().init().start()  # its own directory: run as the postgres user under root
        return "postgresql", create_database(cluster.url(), "bench_e2e"), cluster
    if wanted == "postgresql":
        raise SystemExit("PostgreSQL server binaries not found (apt-get install postgresql)")
    return "sqlite", f"sqlite:///{workdir / 'app.db'}", None


# --- the app's side: portals connected, the journal read ----------------------------------------------
def connect_fleet(deployment: Deployment, portals: int) -> tuple[list, object]:
    """`portals` sandbox portals (the first started with the sandbox, the rest through its control API),
    each installed and connected to the app with the master switch on."""
    from bx_app import create_app
    from bx_app.devkit.portal_fleet import add_sandbox_portals, connect_portal, sandbox_uis_account

    # The sandbox UIS serves one account; the 20 portals stand for 20 customers, each with its own Data API
    # budget (120 points a minute): the shared account gets theirs together.
    requests.post(f"http://127.0.0.1:{deployment.uis_port}/control/config",
                  json={"minute_limit": 120 * portals, "day_limit": 10000 * portals}, timeout=30).raise_for_status()
    urls = [f"http://127.0.0.1:{deployment.first_portal_port}"]
    if portals > 1:
        urls += add_sandbox_portals(deployment.oauth_url, portals - 1)
    app = create_app({"SQLALCHEMY_DATABASE_URI": deployment.database_url, "SECRET_KEY": "bench-e2e-secret",
                      "REDIS_URL": deployment.env()["REDIS_URL"]})
    with app.app_context():
        account = sandbox_uis_account()
        fleet = [connect_portal(url, account, deployment.app_url, name=f"Портал {n + 1}")
                 for n, url in enumerate(urls)]
    return fleet, app


def journal_open(app) -> int:
    """Events the app has stored but not yet finished (the benchmark's "is it drained?")."""
    from bx_app.extensions import db
    from bx_app.models import Event

    with app.app_context():
        count = Event.query.filter(Event.status.notin_(FINAL)).count()
        db.session.remove()
        return count


def journal_figures(app) -> dict:
    """Per external id: when the row was stored and finished, its status and attempts (for the profile)."""
    from bx_app.extensions import db
    from bx_app.models import Event

    with app.app_context():
        rows = Event.query.with_entities(Event.external_id, Event.created_at, Event.processed_at, Event.status,
                                         Event.attempts).all()
        db.session.remove()
    return {r.external_id: {"stored": r.created_at.timestamp(),
                            "finished": r.processed_at.timestamp() if r.processed_at else None,
                            "status": r.status, "attempts": r.attempts} for r in rows}


# --- the load --------------------------------------------------------------------------------------
@dataclass
class Push:
    portal: int
    external_id: str
    phase: str
    sent: float = 0.0
    status: int | None = None
    error: str | None = None


class LoadGenerator:
    """Sends UIS's default offline_message body (tests/fixtures/uis/notification_offline_message.json's
    shape) to a credential's hook URL at a scheduled moment, from a pool of keep-alive clients."""

    def __init__(self, fleet, pool: int = 64):
        self.fleet = fleet
        self.pushes: list[Push] = []
        self.lock = threading.Lock()
        self.next_id = 700_000_000
        self.executor = ThreadPoolExecutor(max_workers=pool, thread_name_prefix="push")
        self.local = threading.local()

    def _session(self) -> requests.Session:
        if not hasattr(self.local, "session"):
            self.local.session = requests.Session()
        return self.local.session

    def body(self, push: Push) -> dict:
        n = int(push.external_id)
        now = datetime.now(ACCOUNT_ZONE).strftime("%Y-%m-%d %H:%M:%S")
        return {"notification_name": "B24: офлайн заявка", "notification_time": now,
                "visitor": {"visitor_name": f"Посетитель {n % 100000}", "visitor_phone_number": f"7916{n % 10**7:07d}",
                            "visitor_email": f"visitor{n}@example.com", "visitor_message": "Перезвоните, пожалуйста.",
                            "visitor_id": 5_100_000_000 + n, "session_id": 77_000_000 + n},
                "offline_message_id": n, "site_domain_name": "shop.example.ru", "campaign_id": 90211,
                "campaign_name": "Яндекс Директ — поиск", "communication_id": 1_200_000_000 + n,
                "search_engine": "Яндекс", "search_query": None}

    def _send(self, push: Push) -> None:
        body = self.body(push)
        push.sent = time.time()
        try:
            reply = self._session().post(self.fleet[push.portal].hook_url, json=body, timeout=30)
            push.status = reply.status_code
            if reply.status_code >= 300:
                push.error = reply.text[:200]
        except requests.RequestException as exc:
            push.error = str(exc)[:200]

    def schedule(self, portal: int, phase: str) -> Push:
        with self.lock:
            self.next_id += 1
            push = Push(portal=portal, external_id=str(self.next_id), phase=phase)
            self.pushes.append(push)
        self.executor.submit(self._send, push)
        return push

    def run(self, plan: list[tuple[float, int, str]], stop: threading.Event | None = None) -> None:
        """plan: (seconds from now, portal index, phase), sorted; each push leaves at its moment."""
        start = time.monotonic()
        for at, portal, phase in plan:
            if stop is not None and stop.is_set():
                return
            delay = start + at - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            self.schedule(portal, phase)

    def steady(self, portals: list[int], interval: float, seconds: float, phase: str,
               stop: threading.Event | None = None) -> None:
        """Each portal one push every `interval` s, the portals' moments spread evenly over the interval."""
        plan = sorted((k * interval + i * interval / len(portals), portal, phase)
                      for i, portal in enumerate(portals) for k in range(int(seconds / interval)))
        self.run(plan, stop)

    def flood(self, portals: list[int], count: int, seconds: float, phase: str) -> None:
        """`count` pushes to each of `portals` in `seconds`, the portals' pushes interleaved."""
        self.run([(i * seconds / count, portal, phase) for i in range(count) for portal in portals])

    def wait_sent(self) -> None:
        while True:
            with self.lock:
                if all(p.status is not None or p.error is not None for p in self.pushes):
                    return
            time.sleep(0.05)


# --- the figures -----------------------------------------------------------------------------------
def percentile(values: list[float], p: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def ms(value: float | None) -> int | None:
    return None if value is None else int(round(value * 1000))


def read_portals(fleet) -> list[dict]:
    return [requests.get(f"{p.url}/sandbox/state.json", timeout=120).json() for p in fleet]


def entity_moments(state: dict) -> tuple[dict[str, float], Counter]:
    """ORIGIN_ID → the earliest moment a lead/deal/contact with it was added; and the count per table."""
    first: dict[str, float] = {}
    duplicates: Counter = Counter()
    for table, entity in (("leads", "lead"), ("deals", "deal"), ("contacts", "contact")):
        created = state.get("created_at", {}).get(entity, {})
        per_origin = Counter()
        for row in state.get(table, []):
            origin = row.get("ORIGIN_ID")
            if not origin:
                continue
            per_origin[origin] += 1
            moment = created.get(str(row["ID"]))
            if moment is not None and (origin not in first or moment < first[origin]):
                first[origin] = moment
        for origin, n in per_origin.items():
            if n > 1:
                duplicates[origin] += n - 1
    return first, duplicates


def summarise(pushes: list[Push], states: list[dict], journal: dict, flooded: list[int],
              flood_start: float | None) -> dict:
    moments: list[dict[str, float]] = []
    duplicates = 0
    for state in states:
        first, dups = entity_moments(state)
        moments.append(first)
        duplicates += sum(dups.values())
    latencies: dict[str, list[float]] = {}
    lost, failed_pushes = [], []
    stages = {"push→stored": [], "stored→entity": [], "entity→journal": []}
    for push in pushes:
        if push.status is None or push.status >= 300:
            failed_pushes.append(push)
            continue
        moment = moments[push.portal].get(f"offline_message:{push.external_id}")
        if moment is None:
            lost.append(push)
            continue
        latencies.setdefault(push.phase, []).append(moment - push.sent)
        row = journal.get(push.external_id)
        if row is not None:
            stages["push→stored"].append(row["stored"] - push.sent)
            stages["stored→entity"].append(moment - row["stored"])
            if row["finished"] is not None:
                stages["entity→journal"].append(row["finished"] - moment)
    floods = []
    for portal in flooded:
        ended = [moments[portal].get(f"offline_message:{p.external_id}") for p in pushes
                 if p.phase == "flood" and p.portal == portal]
        requests_made = states[portal]["counters"]["rest_requests"]
        counters = states[portal]["counters"]
        last_push = max((p.sent for p in pushes if p.phase == "flood" and p.portal == portal), default=None)
        last_entity = max((m for m in ended if m), default=None)
        floods.append({"portal": portal, "events": len(ended), "requests": requests_made,
                       # after the last push, how long the rest took (the wall cannot be under the push time)
                       "tail": (last_entity - last_push) if last_push and last_entity else None,
                       "by_method": counters.get("by_method", {}),
                       "limit_errors": counters.get("query_limit_exceeded", 0),
                       "wall": (max(m for m in ended if m) - flood_start) if flood_start and any(ended) else None,
                       "bucket_min": max(0.0, (requests_made - BUCKET_SIZE) / BUCKET_RATE)})
    return {
        "latencies": latencies, "stages": stages, "lost": lost, "failed_pushes": failed_pushes,
        "duplicates": duplicates, "floods": floods,
    }


def print_table(figures: dict) -> None:
    print(f"{'phase':<22}{'events':>8}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'max ms':>9}")
    for phase, values in figures["latencies"].items():
        print(f"{phase:<22}{len(values):>8}{ms(percentile(values, 50)):>9}{ms(percentile(values, 95)):>9}"
              f"{ms(percentile(values, 99)):>9}{ms(max(values)):>9}")
    print("where the time goes (all events):")
    for stage, values in figures["stages"].items():
        if values:
            print(f"  {stage:<20}{len(values):>8}{ms(percentile(values, 50)):>9}{ms(percentile(values, 95)):>9}"
                  f"{ms(percentile(values, 99)):>9}{ms(max(values)):>9}")


# --- the run ---------------------------------------------------------------------------------------
def wait_drained(app, deployment: Deployment, expected: int, timeout: float) -> float:
    """Until every push is stored and finished in the journal; returns when (monotonic)."""
    from bx_app.extensions import db
    from bx_app.models import Event

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        deployment.check_alive()
        with app.app_context():
            stored = Event.query.count()
            db.session.remove()
        if stored >= expected and journal_open(app) == 0:
            return time.monotonic()
        time.sleep(0.5)
    raise SystemExit(f"not drained after {timeout:.0f} s; logs in {deployment.workdir}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--portals", type=int, default=20)
    parser.add_argument("--interval", type=float, default=2.0, help="steady: seconds between one portal's pushes")
    parser.add_argument("--steady-seconds", type=float, default=60.0)
    parser.add_argument("--flood", type=int, default=1000, help="flood: requests to each flooded portal")
    parser.add_argument("--flooded", type=int, default=1, help="flood: how many portals are flooded at once")
    parser.add_argument("--flood-seconds", type=float, default=10.0)
    parser.add_argument("--workers", type=int, default=2, help="RQ workers (flask --app wsgi worker)")
    parser.add_argument("--fork-workers", action="store_true",
                        help="workers fork a work horse per job (`worker --fork`, RQ's default) for comparison")
    parser.add_argument("--web-workers", type=int, default=2)
    parser.add_argument("--web-threads", type=int, default=4)
    parser.add_argument("--database", choices=("auto", "postgresql", "sqlite"), default="auto")
    parser.add_argument("--short", action="store_true", help="quick iteration: 6 portals, 20 s, 300 in 3 s")
    parser.add_argument("--keep", action="store_true", help="keep the work directory (logs) afterwards")
    parser.add_argument("--cpu-hogs", type=int, default=0,
                        help="busy-loop processes running beside the benchmark (a shared machine)")
    args = parser.parse_args()
    if args.short:
        args.portals, args.steady_seconds, args.flood, args.flood_seconds = 6, 20.0, 300, 3.0

    signal.signal(signal.SIGTERM, lambda *_: sys.exit("terminated"))  # so that the processes are stopped
    load_start = os.getloadavg()
    workdir = Path(tempfile.mkdtemp(prefix="bench-e2e-"))
    database, url, cluster = choose_database(workdir, args.database)
    deployment = Deployment(workdir, url, args.workers, args.web_workers, args.web_threads, args.fork_workers)
    stop_others: threading.Event | None = None
    hogs: CpuHogs | None = None
    print(f"database: {database}; work directory {workdir}; load average {load_start[0]:.1f}", flush=True)
    try:
        deployment.start()
        fleet, app = connect_fleet(deployment, args.portals)
        print(f"{len(fleet)} portals connected; {args.workers} workers"
              f"{' (a fork per job)' if args.fork_workers else ''}, gunicorn {args.web_workers}x{args.web_threads}",
              flush=True)
        generator = LoadGenerator(fleet)
        everyone = list(range(len(fleet)))
        meter = CpuMeter(deployment, cluster)
        if args.cpu_hogs:
            hogs = CpuHogs(args.cpu_hogs)
            print(f"{args.cpu_hogs} busy loops running beside the benchmark", flush=True)
        cpu_start = meter.sample()

        # Steady: every portal one request every `interval` seconds.
        generator.steady(everyone, args.interval, args.steady_seconds, "steady")
        generator.wait_sent()
        wait_drained(app, deployment, len(generator.pushes), timeout=600)
        cpu_steady = meter.spent(cpu_start, meter.sample())
        steady_pushes = len(generator.pushes)
        print(f"steady: {steady_pushes} pushes drained", flush=True)
        time.sleep(3)
        cpu_flood_start = meter.sample()

        # Flood: the first `flooded` portals get `flood` requests each in `flood_seconds`; the others stay
        # steady until the flood is drained.
        flooded = everyone[:args.flooded]
        for portal in flooded:
            requests.post(f"{fleet[portal].url}/sandbox/control", json={"reset_counters": True}, timeout=30)
        stop_others = threading.Event()
        others = threading.Thread(target=generator.steady, args=(everyone[args.flooded:], args.interval, 3600.0,
                                                                  "flood_others", stop_others), daemon=True)
        flood_start = time.time()
        others.start()
        generator.flood(flooded, args.flood, args.flood_seconds, "flood")
        generator.wait_sent()
        # Wait for the flooded portals' events; the others keep pushing meanwhile.
        deadline = time.monotonic() + 900
        while time.monotonic() < deadline:
            deployment.check_alive()
            have = set()
            for portal in flooded:
                state = requests.get(f"{fleet[portal].url}/sandbox/state.json", timeout=120).json()
                have |= {r.get("ORIGIN_ID") for r in state.get("leads", [])}
            if all(f"offline_message:{p.external_id}" in have for p in generator.pushes if p.phase == "flood"):
                break
            time.sleep(1)
        stop_others.set()
        others.join()
        stop_others = None
        generator.wait_sent()
        wait_drained(app, deployment, len(generator.pushes), timeout=600)
        cpu_flood = meter.spent(cpu_flood_start, meter.sample())
        flood_pushes = len(generator.pushes) - steady_pushes
        time.sleep(2)

        states = read_portals(fleet)
        journal = journal_figures(app)
        figures = summarise(generator.pushes, states, journal, flooded, flood_start)
        load_end = os.getloadavg()
    finally:
        if hogs is not None:
            hogs.stop()
        if stop_others is not None:
            stop_others.set()
        deployment.stop()
        if cluster is not None:
            cluster.destroy()
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)

    print_table(figures)
    cpu_per_event = {phase: {part: round(seconds * 1000 / events, 1) for part, seconds in spent.items()}
                     for phase, spent, events in (("steady", cpu_steady, steady_pushes),
                                                  ("flood", cpu_flood, flood_pushes))}
    print("CPU per event, ms (from /proc; every process of each part):")
    parts = list(cpu_steady)
    print(f"  {'phase':<10}" + "".join(f"{part:>12}" for part in parts) + f"{'total':>10}")
    for phase, per in cpu_per_event.items():
        print(f"  {phase:<10}" + "".join(f"{per.get(part, 0):>12}" for part in parts)
              + f"{round(sum(per.values()), 1):>10}")
    lat = figures["latencies"]
    floods = figures["floods"]
    flood_events = sum(f["events"] for f in floods)
    flood_requests = sum(f["requests"] for f in floods)
    # The slowest flooded portal against its own bucket's minimum (with one flooded portal: that portal).
    slowest = max(floods, key=lambda f: (f["wall"] or 0) / (f["bucket_min"] or 1))
    bucket_min = slowest["bucket_min"]
    result = {
        "events": sum(len(v) for v in lat.values()) + len(figures["lost"]),
        "portals": len(fleet), "workers": args.workers, "worker_fork_per_job": args.fork_workers,
        "database": database,
        "lost": len(figures["lost"]), "duplicates": figures["duplicates"],
        "failed_pushes": len(figures["failed_pushes"]),
        "steady_events": len(lat.get("steady", [])),
        "steady_p50_ms": ms(percentile(lat.get("steady", []), 50)),
        "steady_p99_ms": ms(percentile(lat.get("steady", []), 99)),
        "flood_others_events": len(lat.get("flood_others", [])),
        "flood_others_p50_ms": ms(percentile(lat.get("flood_others", []), 50)),
        "flood_others_p99_ms": ms(percentile(lat.get("flood_others", []), 99)),
        "flood_events": flood_events,
        "flood_p50_ms": ms(percentile(lat.get("flood", []), 50)),
        "flooded_portals": len(floods),
        "flood_wall_s": round(slowest["wall"], 2) if slowest["wall"] else None,
        "flood_tail_s": round(max(f["tail"] or 0 for f in floods), 2),
        "flood_requests": flood_requests,
        "flood_bucket_min_s": round(bucket_min, 2),
        "flood_requests_per_event": round(flood_requests / flood_events, 4) if flood_events else None,
        "stages_p50_ms": {k: ms(percentile(v, 50)) for k, v in figures["stages"].items()},
        "stages_p99_ms": {k: ms(percentile(v, 99)) for k, v in figures["stages"].items()},
        "web": f"gunicorn {args.web_workers}x{args.web_threads}",
        "load_average": [round(load_start[0], 2), round(load_end[0], 2)],
        "cpu_hogs": args.cpu_hogs,
        "cpu_ms_per_event": cpu_per_event,
        "short": args.short,
    }
    if result["flood_wall_s"] and bucket_min:
        result["flood_wall_vs_bucket_min"] = round(result["flood_wall_s"] / bucket_min, 2)
    print(f"lost {result['lost']}  duplicates {result['duplicates']}  failed pushes {result['failed_pushes']}")
    for flood in floods:
        wall = round(flood["wall"], 2) if flood["wall"] else None
        print(f"flood of portal {flood['portal'] + 1}: {flood['events']} events, wall {wall} s, "
              f"{flood['requests']} Bitrix24 requests ({round(flood['requests'] / max(1, flood['events']), 4)} per "
              f"event), bucket minimum {round(flood['bucket_min'], 2)} s, done {round(flood['tail'] or 0, 2)} s after "
              f"its last push; by method {flood['by_method']}, "
              f"QUERY_LIMIT_EXCEEDED {flood['limit_errors']}")
    print(json.dumps(result, ensure_ascii=False))


if __name__ == "__main__":
    main()
