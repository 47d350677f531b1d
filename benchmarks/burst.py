"""Burst benchmark: 1000 offline requests + 300 chats for one portal (bucket 2/s, burst 50), coalescing vs naive."""
from __future__ import annotations

import json
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def run(mode: str, offline: int, chats: int, arrival_s: float, redis_url: str) -> dict:
    from bx_app import create_app, intake, processing
    from bx_app.extensions import db
    from bx_app.models import Event
    from bx_app.settings_store import save_channel
    from tests.conftest import TEST_CONFIG
    from tests.integration.conftest import World
    from tests.sandbox_world import connected_sandbox

    tmp = tempfile.mkdtemp()
    app = create_app(dict(TEST_CONFIG, SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp}/bench.db", REDIS_URL=redis_url))
    with app.app_context():
        db.create_all()
        from redis import Redis

        Redis.from_url(redis_url).flushall()
        # The portal's bucket and the app's limiter both at the plan's default: 2 req/s, burst 50.
        with connected_sandbox(app, rate_per_second=2.0, bucket_size=50) as sandbox:
            world = World(app, sandbox.state, sandbox.uis_app, sandbox.credential.id, sandbox.portal.id)
            save_channel(sandbox.credential.id, "main", True, {"default_responsible_id": 1})
            world.portal.bucket.rate, world.portal.bucket.capacity = 2.0, 50.0
            world.configure("chats", create_on="finish")
            rows = [("offline_message", "arrived", world.offline(n)) for n in range(offline)]
            for n in range(chats):
                chat = world.new_chat(visitor_phone_number=f"7925{n:07d}")
                rows.append(("chat", "finished", world.finish_chat(chat["id"])))
            start = time.monotonic()
            ids = []
            step = arrival_s / max(1, len(rows))
            for i, (kind, stage, row) in enumerate(rows):
                ids.append(world.record(kind, stage, row))
                if mode == "coalesce":
                    intake.enqueue_event(ids[-1], world.portal_id)
                # arrivals spread over the window; the drain runs between them as a worker would
                if i % 50 == 49 or i == len(rows) - 1:
                    if mode == "coalesce":
                        processing.drain_portal(world.portal_id)
                    else:
                        for event_id in ids[-50:] if i % 50 == 49 else ids[-(len(rows) % 50 or 50):]:
                            processing.process_group(world.portal_id, [event_id], naive=True)
                delay = start + (i + 1) * step - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
            if mode == "coalesce":
                world.drain_all(rounds=200)
            wall = time.monotonic() - start
            statuses = [db.session.get(Event, i).status for i in ids]
            origins = [r.get("ORIGIN_ID") for r in world.crm("leads")]
            requests = world.portal.counters.rest_requests
            out = {
                "events": len(ids), "b24_requests": requests, "requests_per_event": round(requests / len(ids), 4),
                "limit_errors": world.portal.counters.query_limit_exceeded,
                "duplicates": len(origins) - len(set(origins)),
                "lost": sum(1 for s in statuses if s != "done"),
                "wall_s": round(wall, 2), "arrival_s": arrival_s,
                "bucket_min_s": round(max(0.0, (requests - 50) / 2.0), 2),
            }
            return out


def main() -> None:
    import shutil
    import subprocess

    from tests.conftest import free_port

    port = free_port()
    proc = subprocess.Popen([shutil.which("redis-server"), "--port", str(port), "--save", "", "--appendonly", "no"],
                            stdout=subprocess.DEVNULL)
    time.sleep(0.5)
    try:
        url = f"redis://127.0.0.1:{port}/0"
        coalesce = run("coalesce", 1000, 300, 10.0, url)
        print("coalescing:", coalesce, flush=True)
        naive = run("naive", 50, 15, 10.0 * 65 / 1300, url)  # a sample: the full burst would take ~1 h naively
        naive["note"] = "sample of 65 events (5% of the burst); per-event figures scale, wall does not"
        print("naive:", naive, flush=True)
        print(json.dumps({**coalesce, "naive": naive}))
    finally:
        proc.terminate()


if __name__ == "__main__":
    threading.current_thread().name = "burst"
    main()
