"""The app as a fleet of real processes on PostgreSQL: N web servers, M workers, Redis, the sandbox; a load driver."""
from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
import requests

from tests.conftest import free_port
from tests.e2e.stack import ROOT, Stack, wait_http

FINAL = ("done", "skipped", "failed")


@dataclass
class Fleet(Stack):
    """tests/e2e/stack.Stack with PostgreSQL, three portals and any number of web and worker processes."""

    database_url: str = ""
    portal_ports: tuple[int, ...] = field(default_factory=lambda: (free_port(), free_port(), free_port()))
    web_ports: list[int] = field(default_factory=list)
    workers: list[str] = field(default_factory=list)

    def env(self) -> dict:
        env = super().env()
        env.update({
            "DATABASE_URL": self.database_url,
            # The three credentials have no UIS account: nothing is polled, every event is a push we count.
            "UIS_POLL_SECONDS": "3600",
            "LOG_LEVEL": "WARNING",
        })
        env.update(self.extra_env)
        return env

    @property
    def portal_urls(self) -> list[str]:
        return [f"http://127.0.0.1:{port}" for port in self.portal_ports]

    # --- processes -----------------------------------------------------------------------------
    def upgrade_database(self) -> None:
        subprocess.run([sys.executable, "-m", "flask", "--app", "wsgi", "db", "upgrade"], cwd=ROOT, env=self.env(),
                       check=True, capture_output=True)

    def start_webs(self, count: int) -> None:
        for n in range(count):
            port = self.web_port if n == 0 else free_port()
            proc = self._spawn(f"web{n}", [str(Path(sys.executable).with_name("gunicorn")), "wsgi:app", "--bind",
                                           f"127.0.0.1:{port}", "--workers", "2", "--threads", "4"])
            wait_http(f"http://127.0.0.1:{port}/healthz", proc=proc, timeout=60)
            self.web_ports.append(port)

    def start_worker_named(self, name: str) -> None:
        self._spawn(name, [sys.executable, "-m", "flask", "--app", "wsgi", "worker"])
        if name not in self.workers:
            self.workers.append(name)

    def start_fleet(self, webs: int = 1, workers: int = 2) -> Fleet:
        self.start_redis()
        self.start_sandbox()
        self.upgrade_database()
        self.start_webs(webs)
        for n in range(workers):
            self.start_worker_named(f"worker{n}")
        self.start_scheduler()  # one per deployment: the sweeper re-queues what Redis lost
        return self

    def kill_worker(self, name: str) -> None:
        """kill -9 of the worker and its work horse / cron children (its process group)."""
        self.kill(name, signal.SIGKILL)

    def restart_redis(self, down_seconds: float) -> None:
        self.kill("redis", signal.SIGKILL)
        time.sleep(down_seconds)
        self.start_redis()

    # --- the world: three portals with the app installed and active ------------------------------
    def connect_portals(self) -> list[dict]:
        """Install the app on every sandbox portal and store portal + credential (Main tab active)."""
        from bx_app import create_app
        from bx_app.extensions import db
        from bx_app.models import Credential, Portal
        from bx_app.models.account import PortalStatus
        from bx_app.settings_store import save_channel

        portals = []
        for url in self.portal_urls:
            answer = self.portal_control({"install": {}, "issue_tokens": {"user_id": 1}}, portal_url=url)
            portals.append({"url": url, "tokens": answer["tokens"]})
        app = create_app({"SQLALCHEMY_DATABASE_URI": self.database_url, "REDIS_URL": self.redis_url,
                          "SECRET_KEY": self.env()["SECRET_KEY"], "TOKEN_ENCRYPTION_KEY": ""})
        with app.app_context():
            for n, item in enumerate(portals, 1):
                tokens = item["tokens"]
                host = tokens["client_endpoint"].split("://", 1)[1].split("/", 1)[0]
                portal = Portal(member_id=tokens["member_id"], domain=host,
                                client_endpoint=tokens["client_endpoint"],
                                server_endpoint=tokens.get("server_endpoint"),
                                access_token=tokens["access_token"], refresh_token=tokens["refresh_token"],
                                expires_at=None, status=PortalStatus.INSTALLED, installer_user_id=1)
                credential = Credential(name=f"Портал {n}", portal=portal)
                db.session.add_all([portal, credential])
                db.session.commit()
                save_channel(credential.id, "main", True, {"default_responsible_id": 1})
                item.update(credential_id=credential.id, hook_token=credential.hook_token, portal_id=portal.id)
            db.session.remove()
            db.engine.dispose()
        return portals

    # --- reading the outcome ---------------------------------------------------------------------
    def query(self, sql: str, *args) -> list[tuple]:
        with psycopg.connect(self.database_url.replace("postgresql+psycopg://", "postgresql://"),
                             connect_timeout=5) as connection:
            return connection.execute(sql, args).fetchall()

    def leads_by_origin(self, portal_url: str) -> Counter:
        state = self.portal_state(portal_url)
        return Counter(row.get("ORIGIN_ID") for row in state["leads"] if row.get("ORIGIN_ID"))


@dataclass
class PushTally:
    """What the webhook answered: accepted, refused with a retryable status (then retried), other errors."""

    accepted: int = 0
    refused_retryable: int = 0  # 503 with Retry-After, 429: the sender retries; nothing was acknowledged
    server_errors: int = 0  # other 5xx: a bug
    connection_errors: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def note(self, status: int | None) -> None:
        with self.lock:
            if status is None:
                self.connection_errors += 1
            elif 200 <= status < 300:
                self.accepted += 1
            elif status in (429, 503):
                self.refused_retryable += 1
            elif status >= 500:
                self.server_errors += 1


def push_offline_requests(fleet: Fleet, portals: list[dict], count: int, tally: PushTally,
                          give_up_after: float = 120.0, threads: int = 6,
                          at_fractions: dict[float, object] | None = None) -> dict[str, str]:
    """`count` offline requests created in the sandbox UIS, each pushed to one portal's hook (round robin).

    The sandbox UIS sends the notification; when the app did not acknowledge it (2xx), the same body is
    sent again, as UIS retries a failed notification. Returns UIS id → portal URL.
    """
    sent: dict[str, str] = {}
    sent_lock = threading.Lock()
    # Faults fire (in their own thread, the burst goes on) once this share of the pushes was created.
    pending_faults = sorted((at_fractions or {}).items())
    fault_threads: list[threading.Thread] = []
    created = [0]

    def fire_due_faults() -> None:
        while pending_faults and created[0] >= pending_faults[0][0] * count:
            _, action = pending_faults.pop(0)
            thread = threading.Thread(target=action, daemon=True)
            thread.start()
            fault_threads.append(thread)

    def one(n: int) -> None:
        portal = portals[n % len(portals)]
        web_port = fleet.web_ports[n % len(fleet.web_ports)]
        hook = f"http://127.0.0.1:{web_port}/hooks/uis/{portal['hook_token']}"
        reply = fleet.uis_control("/control/offline_messages", {
            "visitor_name": f"Клиент {n}", "visitor_phone_number": f"+7 (916) {n // 10000 % 1000:03d}-{n % 10000:04d}",
            "text": f"Заявка {n}", "notify_url": hook})
        delivery = reply["deliveries"][0]
        tally.note(delivery.get("status"))
        with sent_lock:
            created[0] += 1
            fire_due_faults()
        body = delivery["body"]
        deadline = time.monotonic() + give_up_after
        status = delivery.get("status")
        while not (status and 200 <= status < 300):
            if time.monotonic() > deadline:
                raise AssertionError(f"push {n} never accepted: last status {status}")
            time.sleep(1.0)
            try:
                status = requests.post(hook, data=body.encode(), timeout=10,
                                       headers={"Content-Type": "application/json; charset=UTF-8"}).status_code
            except requests.RequestException:
                status = None
            tally.note(status)
        with sent_lock:
            sent[str(reply["row"]["id"])] = portal["url"]

    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(one, range(count)))
    for thread in fault_threads:
        thread.join()
    return sent


@dataclass
class Outcome:
    scenario: str
    events: int
    done: int
    duplicated: int
    lost: int
    refused_retryable: int
    server_errors: int
    unanswered: int  # connection refused/reset or no answer in 10 s: not acknowledged, sent again
    wall_seconds: float
    not_done: list = field(default_factory=list)  # (status, reason, error) of events not done, for the message

    def row(self) -> str:
        return (f"{self.scenario:<26} {self.events:>6} {self.done:>6} {self.duplicated:>10} {self.lost:>5} "
                f"{self.server_errors:>4} {self.refused_retryable:>9} {self.unanswered:>10} {self.wall_seconds:>8.1f}")


TABLE_HEADER = (f"{'scenario':<26} {'events':>6} {'done':>6} {'duplicated':>10} {'lost':>5} {'5xx':>4} "
                f"{'503/retry':>9} {'unanswered':>10} {'wall s':>8}")


def settle(fleet: Fleet, sent: dict[str, str], deadline_seconds: float, started: float, scenario: str,
           tally: PushTally) -> Outcome:
    """Wait (bounded) until every pushed request has its journal row final, then count leads per portal."""
    deadline = time.monotonic() + deadline_seconds
    ids = list(sent)
    while time.monotonic() < deadline:
        try:
            rows = fleet.query("SELECT count(*) FROM event WHERE kind = 'offline_message' AND status = ANY(%s)",
                               list(FINAL))
            if rows[0][0] >= len(ids):
                break
        except psycopg.OperationalError:
            pass
        time.sleep(1)
    wall = time.monotonic() - started
    per_portal = {url: fleet.leads_by_origin(url) for url in {u for u in sent.values()}}
    done = duplicated = lost = 0
    for uis_id, url in sent.items():
        count = per_portal[url][f"offline_message:{uis_id}"]
        if count == 0:
            lost += 1
        else:
            done += 1
            duplicated += count - 1
    not_done = fleet.query("SELECT status, reason, left(last_error, 200), count(*) FROM event "
                           "WHERE status <> 'done' GROUP BY 1, 2, 3")
    return Outcome(scenario, len(ids), done, duplicated, lost, tally.refused_retryable,
                   tally.server_errors, tally.connection_errors, round(wall, 1), not_done)
