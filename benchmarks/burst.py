"""Burst benchmark: 1000 offline requests + 300 chats + 200 calls for one portal (bucket 2/s, burst 50).

Three runs against the in-process sandbox portal and UIS:
- coalescing: the drain runs every 50 arrivals (the best case of the shared batches);
- naive (the baseline): the app's own one-event path — one event per drain, its lookup and write
  batches alone — on a 5% sample (the whole burst would take ~20 min at 2 req/s);
- natural: a real RQ worker (SimpleWorker, in this process so the sandbox routing reaches it) drains at
  its own cadence while the events arrive; `lost`/`duplicates` are read from the portal's CRM
  (ORIGIN_IDs present), not from the journal.
Prints each run and ends with one JSON line: the coalescing figures, `naive: {...}`, `natural: {...}`.
"""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from redis import Redis  # noqa: E402
from rq import SimpleWorker  # noqa: E402

from bx_app import create_app, intake, queues  # noqa: E402
from bx_app.devkit.config import TEST_CONFIG, free_port  # noqa: E402
from bx_app.devkit.sandbox_world import connected_sandbox  # noqa: E402
from bx_app.devkit.world import World  # noqa: E402
from bx_app.engine import drain  # noqa: E402
from bx_app.extensions import db, redis_connection  # noqa: E402
from bx_app.models import Event  # noqa: E402
from bx_app.models.event import EventStatus  # noqa: E402
from bx_app.settings_store import save_channel  # noqa: E402

BUCKET_RATE, BUCKET_SIZE = 2.0, 50


def _burst(world: World, offline: int, chats: int, calls: int) -> list[tuple[str, str, dict]]:
    rows = [("offline_message", "arrived", world.offline(n)) for n in range(offline)]
    for n in range(chats):
        chat = world.new_chat(visitor_phone_number=f"7925{n:07d}")
        rows.append(("chat", "finished", world.finish_chat(chat["id"])))
    for n in range(calls):
        # Answered calls with a record, as the calls report gives them (no push: `events` empty): each is a
        # lead plus register → finish → attachRecord in the portal's telephony.
        call = world.place_call(contact_phone_number=f"7903{n:07d}", answered=True, with_record=True,
                                events=[])["row"]
        rows.append(("call", "finished", {**call, "_call": call}))
    return rows


def _origin(kind: str, row: dict) -> str:
    return f"{kind}:{row.get('id') or row.get('chat_id') or row.get('offline_message_id')}"


def _figures(world: World, rows: list, wall: float, arrival_s: float) -> dict:
    """Counted from the portal's CRM: one lead per communication, by ORIGIN_ID; one finished, recorded
    telephony call per UIS call, by EXTERNAL_CALL_ID."""
    wanted = [_origin(kind, row) for kind, _stage, row in rows]
    present = Counter(r.get("ORIGIN_ID") for r in world.crm("leads"))
    requests = world.portal.counters.rest_requests
    registered = Counter(c["EXTERNAL_CALL_ID"] for c in world.calls())
    complete = {c["EXTERNAL_CALL_ID"] for c in world.calls() if c["FINISHED"] and c["RECORD"]}
    calls = [f"uis-{row['id']}" for kind, _stage, row in rows if kind == "call"]
    return {
        "calls": len(calls), "calls_duplicated": sum(registered[c] - 1 for c in calls if registered[c] > 1),
        "calls_lost": sum(1 for c in calls if c not in complete),
        "events": len(rows), "b24_requests": requests, "requests_per_event": round(requests / len(rows), 4),
        "limit_errors": world.portal.counters.query_limit_exceeded,
        "duplicates": sum(present[o] - 1 for o in wanted if present[o] > 1),
        "lost": sum(1 for o in wanted if not present[o]),
        "wall_s": round(wall, 2), "arrival_s": arrival_s,
        "bucket_min_s": round(max(0.0, (requests - BUCKET_SIZE) / BUCKET_RATE), 2),
    }


def run(mode: str, offline: int, chats: int, calls: int, arrival_s: float, redis_url: str) -> dict:
    tmp = tempfile.mkdtemp()
    app = create_app(dict(TEST_CONFIG, SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp}/bench.db", REDIS_URL=redis_url))
    with app.app_context():
        db.create_all()
        Redis.from_url(redis_url).flushall()
        # The portal's bucket and the app's limiter both at the plan's default: 2 req/s, burst 50.
        with connected_sandbox(app, rate_per_second=BUCKET_RATE, bucket_size=BUCKET_SIZE) as sandbox:
            world = World(app, sandbox.state, sandbox.uis_app, sandbox.credential.id, sandbox.portal.id)
            save_channel(sandbox.credential.id, "main", True, {"default_responsible_id": 1})
            world.portal.bucket.rate, world.portal.bucket.capacity = BUCKET_RATE, float(BUCKET_SIZE)
            world.configure("chats", create_on="finish")
            world.configure("calls", active=True, create_on="finish")
            rows = _burst(world, offline, chats, calls)
            start = time.monotonic()
            if mode == "natural":
                _natural(app, world, rows, arrival_s)
            else:
                _driven(world, rows, arrival_s, coalesce=mode == "coalesce")
            return _figures(world, rows, time.monotonic() - start, arrival_s)


def _driven(world: World, rows: list, arrival_s: float, coalesce: bool) -> None:
    """Arrivals spread over the window; the drain runs every 50 arrivals (coalesce) or after each one."""
    step = arrival_s / max(1, len(rows))
    start = time.monotonic()
    for i, (kind, stage, row) in enumerate(rows):
        event_id = world.record(kind, stage, row)
        intake.enqueue_event(event_id, world.portal_id)
        if not coalesce or i % 50 == 49 or i == len(rows) - 1:
            drain.drain_portal(world.portal_id, pauses=False)  # this harness decides when groups run
        delay = start + (i + 1) * step - time.monotonic()
        if delay > 0:
            time.sleep(delay)
    world.drain_all(rounds=200)


def _natural(app, world: World, rows: list, arrival_s: float) -> None:
    """Arrivals in a thread (as the web app's intake would), a real RQ worker in this one."""
    step = arrival_s / max(1, len(rows))
    arrived = threading.Event()

    def arrive() -> None:
        with app.app_context():
            start = time.monotonic()
            for i, (kind, stage, row) in enumerate(rows):
                intake.enqueue_event(world.record(kind, stage, row), world.portal_id)
                delay = start + (i + 1) * step - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
        arrived.set()

    thread = threading.Thread(target=arrive, name="arrivals")
    thread.start()
    connection = redis_connection(app.config["REDIS_URL"])
    worker = SimpleWorker([queues.queue(name) for name in queues.ALL], connection=connection)
    deadline = time.monotonic() + 3600
    while time.monotonic() < deadline:
        worker.work(burst=True, with_scheduler=True, logging_level="WARNING")
        if arrived.is_set():
            db.session.expire_all()
            open_rows = Event.query.filter(Event.status.in_([EventStatus.NEW, EventStatus.PROCESSING])).count()
            db.session.commit()
            if not open_rows:
                break
        time.sleep(0.05)
    thread.join()


def main() -> None:
    port = free_port()
    proc = subprocess.Popen([shutil.which("redis-server"), "--port", str(port), "--save", "", "--appendonly", "no"],
                            stdout=subprocess.DEVNULL)
    time.sleep(0.5)
    try:
        url = f"redis://127.0.0.1:{port}/0"
        coalesce = run("coalesce", 1000, 300, 200, 10.0, url)
        print("coalescing:", coalesce, flush=True)
        naive = run("naive", 50, 15, 10, 10.0 * 75 / 1500, url)
        naive["note"] = ("the app's one-event path (one event per drain) on a sample of 75 events (5% of the "
                         "burst); per-event figures scale, wall does not")
        print("naive:", naive, flush=True)
        natural = run("natural", 1000, 300, 200, 10.0, url)
        print("natural:", natural, flush=True)
        keys = ("events", "b24_requests", "requests_per_event", "wall_s", "bucket_min_s", "lost", "duplicates",
                "calls", "calls_lost", "calls_duplicated")
        print(json.dumps({**coalesce, "naive": naive, "natural": {k: natural[k] for k in keys}}))
    finally:
        proc.terminate()


if __name__ == "__main__":
    threading.current_thread().name = "burst"
    main()
