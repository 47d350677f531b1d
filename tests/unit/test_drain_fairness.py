"""A flooded portal never parks a worker on its Bitrix24 bucket: its drain gives the worker to other
portals while the bucket would hold the next group, and comes back when the bucket has room."""
from __future__ import annotations

import time

import pytest
from redis import Redis
from rq import Queue
from rq.registry import ScheduledJobRegistry

from bx_app import intake
from bx_app.bitrix.limiter import PortalRateLimiter
from bx_app.engine import drain
from bx_app.extensions import db
from bx_app.models import Event, Portal

from .factories import make_credential


@pytest.fixture
def flooded(app, redis_url):
    """A portal with 120 requests pending and its drain flag held, as when intake started its drain."""
    credential = make_credential(1)
    portal = db.session.get(Portal, credential.portal_id)
    redis = Redis.from_url(redis_url)
    ids = []
    for n in range(120):
        event = Event(credential_id=credential.id, kind="offline_message", external_id=str(n), stage="arrived",
                      dedupe_key=f"offline_message:{n}:arrived", source="push", payload={})
        db.session.add(event)
        db.session.flush()
        ids.append(event.id)
    db.session.commit()
    redis.zadd(intake.pending_key(portal.id), {str(i): i for i in ids})
    redis.set(intake.drain_flag(portal.id), "1", ex=60)
    return portal, redis


def _bucket(portal: Portal, redis: Redis) -> PortalRateLimiter:
    return PortalRateLimiter(redis, portal.member_id, rate=portal.rate_per_second or 2,
                             capacity=portal.bucket_size or 50)


def test_a_drain_whose_bucket_is_spent_gives_its_worker_back_and_comes_back_when_it_has_room(app, flooded):
    portal, redis = flooded
    _bucket(portal, redis).note_overflow()  # the bucket is full: the next request waits 0.5 s
    drain.YIELD_WAIT_SECONDS, before = 0.2, drain.YIELD_WAIT_SECONDS
    try:
        assert drain.drain_portal(portal.id) == 0
    finally:
        drain.YIELD_WAIT_SECONDS = before

    assert redis.zcard(intake.pending_key(portal.id)) == 120  # nothing taken, nothing lost
    assert redis.get(intake.drain_flag(portal.id)) is not None  # still its drain: intake starts no second one
    scheduled = ScheduledJobRegistry(queue=Queue("events", connection=redis))
    jobs = scheduled.get_job_ids()
    assert len(jobs) == 1
    job = Queue("events", connection=redis).fetch_job(jobs[0])
    assert job.func_name == "bx_app.jobs.drain_portal" and job.args == (portal.id,)
    assert Queue("events", connection=redis).count == 0  # not queued now: only when the bucket has room


def test_a_drain_whose_bucket_has_room_takes_its_group_now(app, flooded, monkeypatch):
    portal, redis = flooded
    groups = []
    monkeypatch.setattr(drain, "drain_group", lambda portal_id, ids: (groups.append(ids) or ({}, 4)))

    drain.drain_portal(portal.id)

    # One group per job: the portal's next group waits behind the other portals' drains, not after them.
    assert [len(g) for g in groups] == [drain.DRAIN_CHUNK]
    assert Queue("events", connection=redis).count == 1
    assert ScheduledJobRegistry(queue=Queue("events", connection=redis)).count == 0


def test_the_next_groups_cost_is_what_the_last_group_sent(app, flooded, monkeypatch):
    portal, redis = flooded
    monkeypatch.setattr(drain, "DRAIN_BUDGET", 200)  # several groups in one job
    bucket = _bucket(portal, redis)
    for _ in range(45):  # 45 of the 48 usable requests taken: room for 3 now
        bucket.try_acquire()
    groups = []
    monkeypatch.setattr(drain, "drain_group", lambda portal_id, ids: (groups.append(ids) or ({}, 10)))

    drain.drain_portal(portal.id)

    # The first group (cost unknown: 1) runs; the second would need 10 with room for 3 (3.5 s): yield.
    assert [len(g) for g in groups] == [50]
    assert redis.zcard(intake.pending_key(portal.id)) == 70
    assert ScheduledJobRegistry(queue=Queue("events", connection=redis)).count == 1
    assert Queue("events", connection=redis).count == 0


@pytest.fixture
def trickle(app, redis_url):
    """A portal with 5 requests pending, queued `age` seconds ago, and its drain flag held."""
    credential = make_credential(2)
    portal = db.session.get(Portal, credential.portal_id)
    redis = Redis.from_url(redis_url)

    def queue(age: float) -> None:
        redis.zadd(intake.pending_key(portal.id), {str(9000 + n): time.time() - age for n in range(5)})
        redis.set(intake.drain_flag(portal.id), "1", ex=60)

    return portal, redis, queue


def _spend(bucket: PortalRateLimiter, requests: int) -> None:
    for _ in range(requests):
        assert bucket.try_acquire() == 0.0


@pytest.mark.parametrize(("spent", "age", "waits"), [
    (0, 0.0, False),    # a full bucket: a small group goes at once (latency first)
    (10, 0.0, False),   # still more than PLENTY_OF_ROOM of it free
    (20, 0.0, True),    # under it: the small group waits to fill up...
    (20, 5.0, False),   # ...but never longer than FILL_WAIT_SECONDS since its oldest event was queued
    (20, 0.5, False),   # ...and not once the events stopped coming (none for ARRIVING_SECONDS: a flood's end)
])
def test_a_small_group_waits_to_fill_up_only_while_the_bucket_runs_low(app, trickle, monkeypatch, spent, age, waits):
    portal, redis, queue = trickle
    queue(age)
    _spend(_bucket(portal, redis), spent)
    groups = []
    monkeypatch.setattr(drain, "drain_group", lambda portal_id, ids: (groups.append(ids) or ({}, 2)))

    drain.drain_portal(portal.id)

    scheduled = ScheduledJobRegistry(queue=Queue("events", connection=redis))
    if waits:
        assert groups == [] and scheduled.count == 1
        assert redis.zcard(intake.pending_key(portal.id)) == 5
    else:
        assert [len(g) for g in groups] == [5] and scheduled.count == 0


def test_a_full_group_never_waits_to_fill(app, flooded, monkeypatch):
    portal, redis = flooded
    _spend(_bucket(portal, redis), 30)  # low, but 120 are waiting: the group is full already
    groups = []
    monkeypatch.setattr(drain, "drain_group", lambda portal_id, ids: (groups.append(ids) or ({}, 2)))

    drain.drain_portal(portal.id)

    assert [len(g) for g in groups] == [drain.DRAIN_CHUNK]


def test_the_cost_of_a_portals_last_group_is_remembered_by_its_next_drain_job(app, flooded, monkeypatch):
    portal, redis = flooded
    monkeypatch.setattr(drain, "drain_group", lambda portal_id, ids: ({}, 10))
    drain.drain_portal(portal.id)  # one group of 50, which sent 10 requests
    _spend(_bucket(portal, redis), 45)  # 45 of the 48 usable requests taken: room for 3

    assert drain.drain_portal(portal.id) == 0  # the next job: 10 needed, 3.5 s away: it yields
    assert ScheduledJobRegistry(queue=Queue("events", connection=redis)).count == 1


def test_a_group_that_sent_more_than_the_bucket_holds_never_stalls_its_portal(app, flooded, monkeypatch):
    portal, redis = flooded
    redis.set(drain.group_cost_key(portal.id), 500)  # retries made the last group send 500 requests
    groups = []
    monkeypatch.setattr(drain, "drain_group", lambda portal_id, ids: (groups.append(ids) or ({}, 2)))

    drain.drain_portal(portal.id)  # an empty bucket: it goes

    assert [len(g) for g in groups] == [drain.DRAIN_CHUNK]
