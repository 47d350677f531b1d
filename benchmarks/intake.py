"""Intake speed: the webhook vs a bare endpoint on the same gunicorn setup, measured side by side.

Runs twice, on SQLite and on PostgreSQL (a throw-away cluster; skipped, and said so, without the server
binaries). Each run starts Redis and gunicorn (2 workers x 4 threads), creates one credential, then
sends the same number of requests with the same client concurrency to (a) GET /bench/bare and (b) POST
/hooks/uis/<token> with distinct offline requests. Prints req/s, p50/p99 for both, their ratio, and the
rows stored; failed requests are counted apart from the latencies. The last line is one JSON object: the
SQLite figures at the top level (as before), the PostgreSQL ones under "postgresql".

    .venv/bin/python benchmarks/intake.py [--requests 3000] [--concurrency 4]
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psycopg
import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bx_app.devkit.config import free_port, wait_http  # noqa: E402
from bx_app.devkit.postgres_cluster import PostgresCluster, create_database, server_bindir  # noqa: E402


def run_load(url: str, total: int, concurrency: int, body_for) -> tuple[float, list[float], int]:
    """Send `total` requests from `concurrency` keep-alive clients; returns (seconds, latencies ms, errors)."""
    latencies: list[float] = []
    errors = 0
    lock = threading.Lock()
    counter = iter(range(total))

    def client():
        nonlocal errors
        session = requests.Session()
        mine, bad = [], 0
        while True:
            with lock:
                i = next(counter, None)
            if i is None:
                break
            body = body_for(i)
            start = time.perf_counter()
            try:
                if body is None:
                    response = session.get(url, timeout=10)
                else:
                    response = session.post(url, json=body, timeout=10)
                ok = response.status_code == 200
            except requests.RequestException:
                ok = False
            if ok:  # a failed request is counted apart, never mixed into the latencies
                mine.append((time.perf_counter() - start) * 1000)
            else:
                bad += 1
        with lock:
            latencies.extend(mine)
            errors += bad

    threads = [threading.Thread(target=client) for _ in range(concurrency)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.perf_counter() - started, latencies, errors


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def measure(args, database_url: str, count_stored) -> dict:
    """One run against `database_url`: Redis and gunicorn started here, one credential, both endpoints loaded."""
    workdir = Path(tempfile.mkdtemp(prefix="bench-intake-"))
    redis_port, web_port = free_port(), free_port()
    database_url = database_url.replace("{workdir}", str(workdir))
    env = dict(os.environ, SECRET_KEY="bench", DATABASE_URL=database_url,
               REDIS_URL=f"redis://127.0.0.1:{redis_port}/0", PUBLIC_URL=f"http://127.0.0.1:{web_port}")
    procs = []
    try:
        procs.append(subprocess.Popen([shutil.which("redis-server"), "--port", str(redis_port), "--save", "",
                                       "--appendonly", "no", "--dir", str(workdir)], stdout=subprocess.DEVNULL))
        subprocess.run([sys.executable, "-m", "flask", "--app", "wsgi", "db", "upgrade"], cwd=ROOT, env=env,
                       check=True, capture_output=True)
        token = subprocess.run([sys.executable, "-c", (
            "from bx_app import create_app\n"
            "from bx_app.extensions import db\n"
            "from bx_app.models import Portal, Credential\n"
            "app = create_app()\n"
            "with app.app_context():\n"
            "    p = Portal(member_id='bench0000000000000000000000000000', domain='bench.bitrix24.ru',\n"
            "               client_endpoint='https://bench.bitrix24.ru/rest/', status='installed')\n"
            "    c = Credential(name='bench', portal=p)\n"
            "    db.session.add_all([p, c]); db.session.commit(); print(c.hook_token)\n")],
            cwd=ROOT, env=env, check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1]
        gunicorn = str(Path(sys.executable).with_name("gunicorn"))
        procs.append(subprocess.Popen([gunicorn, "benchmarks.bench_wsgi:app", "--bind", f"127.0.0.1:{web_port}",
                                       "--workers", str(args.workers), "--threads", str(args.threads),
                                       "--log-level", "warning"], cwd=ROOT, env=env,
                                      # gunicorn.conf.py's access log: one line a request, kept out of the output
                                      stdout=open(workdir / "web.log", "wb"), stderr=subprocess.STDOUT))  # noqa: SIM115
        base = f"http://127.0.0.1:{web_port}"
        wait_http(f"{base}/bench/bare")
        # Warm up both paths (imports, connection pools) before measuring.
        run_load(f"{base}/bench/bare", 200, args.concurrency, lambda i: None)
        run_load(f"{base}/hooks/uis/{token}", 200, args.concurrency,
                 lambda i: {"offline_message_id": 9_000_000 + i, "visitor_name": "Warm", "visitor_message": "up"})

        bare_s, bare_lat, bare_err = run_load(f"{base}/bench/bare", args.requests, args.concurrency, lambda i: None)

        def hook_body(i):
            return {"notification_name": "B24: офлайн заявка", "offline_message_id": 1_000_000 + i,
                    "visitor": {"visitor_name": "Сергей", "visitor_phone_number": "79167778899",
                                "visitor_email": "sergey@example.com",
                                "visitor_message": "Хочу заказать доставку дивана на субботу."},
                    "site_domain_name": "shop.example.ru", "campaign_name": "Яндекс Директ"}

        hook_s, hook_lat, hook_err = run_load(f"{base}/hooks/uis/{token}", args.requests, args.concurrency,
                                              hook_body)
        stored = count_stored(database_url)
    finally:
        for proc in procs[::-1]:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=40)  # gunicorn's graceful stop waits for its keep-alive connections
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
        shutil.rmtree(workdir, ignore_errors=True)

    figures = {
        "requests": args.requests,
        "concurrency": args.concurrency,
        "bare_rps": round(args.requests / bare_s, 1),
        "hook_rps": round(args.requests / hook_s, 1),
        "bare_p50_ms": round(statistics.median(bare_lat), 2) if bare_lat else None,
        "bare_p99_ms": round(percentile(bare_lat, 99), 2) if bare_lat else None,
        "hook_p50_ms": round(statistics.median(hook_lat), 2) if hook_lat else None,
        "hook_p99_ms": round(percentile(hook_lat, 99), 2) if hook_lat else None,
        "bare_errors": bare_err,
        "hook_errors": hook_err,
        "stored": stored,
    }
    figures["ratio"] = round(figures["hook_rps"] / figures["bare_rps"], 3)
    return figures


_STORED = "SELECT COUNT(*) FROM event WHERE external_id >= '1000000' AND external_id < '9000000'"


def sqlite_stored(url: str) -> int:
    return sqlite3.connect(url.removeprefix("sqlite:///")).execute(_STORED).fetchone()[0]


def postgresql_stored(url: str) -> int:
    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://", 1)) as connection:
        return connection.execute(_STORED).fetchone()[0]


def report(label: str, figures: dict) -> None:
    print(f"[{label}] bare endpoint : {figures['bare_rps']:8.1f} req/s  p50 {figures['bare_p50_ms']} ms  "
          f"p99 {figures['bare_p99_ms']} ms  failed {figures['bare_errors']}")
    print(f"[{label}] UIS webhook   : {figures['hook_rps']:8.1f} req/s  p50 {figures['hook_p50_ms']} ms  "
          f"p99 {figures['hook_p99_ms']} ms  failed {figures['hook_errors']}")
    print(f"[{label}] ratio hook/bare: {figures['ratio']}   stored {figures['stored']} of {figures['requests']}"
          "  (latencies are of answered requests only; failed ones are counted apart)", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4)
    args = parser.parse_args()

    figures = measure(args, "sqlite:///{workdir}/app.db", sqlite_stored)
    report("sqlite", figures)
    if server_bindir() is None:
        figures["postgresql"] = {"skipped": "PostgreSQL server binaries not found (apt-get install postgresql)"}
        print("[postgresql] skipped: no server binaries")
    else:
        cluster = PostgresCluster().init().start()
        try:
            url = create_database(cluster.url(), "bench_intake")
            figures["postgresql"] = measure(args, url, postgresql_stored)
        finally:
            cluster.destroy()
        report("postgresql", figures["postgresql"])
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
