"""A slow group keeps its events: the event locks are renewed while it runs, and the sweeper leaves
"processing" rows with a live lock alone (only a killed worker's rows are handed on)."""
from __future__ import annotations

import time
from datetime import timedelta

from redis import Redis

from bx_app.engine.drain import LockHeartbeat
from bx_app.extensions import db
from bx_app.intake import event_lock_key, sweep_stranded
from bx_app.models import Credential, Event, Portal
from bx_app.models.event import EventStatus
from bx_app.models.timeutil import utcnow


def _processing_event(app) -> Event:
    portal = Portal(member_id="m-locks", domain="locks.bitrix24.ru", client_endpoint="https://locks.bitrix24.ru/rest/")
    db.session.add(portal)
    db.session.flush()
    credential = Credential(name="locks", portal_id=portal.id)
    db.session.add(credential)
    db.session.flush()
    event = Event(credential_id=credential.id, kind="offline_message", external_id="1", stage="arrived",
                  dedupe_key="offline_message:1:arrived", source="push", payload={},
                  status=EventStatus.PROCESSING)
    db.session.add(event)
    db.session.commit()
    # "processing" for longer than the lock time: looks stuck by the row alone
    event.updated_at = utcnow() - timedelta(seconds=app.config["EVENT_LOCK_SECONDS"] + 60)
    db.session.commit()
    return event


def test_sweeper_leaves_a_slow_groups_event_alone_while_its_lock_lives(app, redis_url):
    event = _processing_event(app)
    redis = Redis.from_url(redis_url)
    redis.set(event_lock_key(event.id), b"token", ex=30)
    sweep_stranded()
    db.session.refresh(event)
    assert event.status == EventStatus.PROCESSING


def test_sweeper_hands_on_a_killed_workers_event_once_its_lock_expired(app, redis_url):
    event = _processing_event(app)
    assert Redis.from_url(redis_url).get(event_lock_key(event.id)) is None
    assert sweep_stranded() == 1
    db.session.refresh(event)
    assert event.status == EventStatus.NEW


def test_heartbeat_renews_the_locks_of_a_group_that_outlives_the_lock_time(redis_url):
    redis = Redis.from_url(redis_url)
    lock = redis.lock(event_lock_key(991), timeout=1, blocking_timeout=0, thread_local=False)
    assert lock.acquire(blocking=False)
    with LockHeartbeat([lock], timeout=1):
        time.sleep(2.5)  # 2.5 lock lifetimes
        assert redis.get(event_lock_key(991)) is not None
    time.sleep(1.3)  # no heartbeat (a killed worker): the lock expires by itself
    assert redis.get(event_lock_key(991)) is None
