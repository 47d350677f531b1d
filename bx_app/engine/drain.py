"""A portal's pending events, a group at a time: prepare → lookup → plan → write → journal."""
from __future__ import annotations

import contextlib
import logging
import threading
import time

from flask import current_app
from redis.exceptions import LockError, RedisError
from sqlalchemy.exc import InterfaceError, OperationalError

from bx_app import intake, queues
from bx_app.bitrix.errors import PortalNeedsReauth
from bx_app.engine import journal
from bx_app.engine.lookup import lookup
from bx_app.engine.prepare import prepare
from bx_app.engine.work import Group, Work
from bx_app.engine.write import write
from bx_app.extensions import db, redis_connection
from bx_app.integration.planner import CRM_MODE_CLASSIC, Lookup, Needs, lookup_needs, origin_id, plan
from bx_app.models import Event, Portal
from bx_app.models.event import EventStatus
from bx_app.portal_auth import client_for_portal, rate_limiter_for_portal

log = logging.getLogger(__name__)

# How many events one drain job takes before letting other portals' jobs run, and how many share batches.
# One group per job: a flooded portal's next group queues behind the others' drains (with 200, two
# flooded portals held both workers for seconds and the other portals' p99 was 3-4 s; benchmarks/e2e.py).
DRAIN_BUDGET = 50
DRAIN_CHUNK = 50
DATABASE_RETRY_SECONDS = 5
# A drain whose portal's bucket would hold the next group longer than this gives its worker to other
# portals and comes back when the bucket has room: a flooded portal never parks a worker on its sleeps.
YIELD_WAIT_SECONDS = 1.0
# A group costs about the same few requests at 1 event as at 50. While the bucket has more than
# PLENTY_OF_ROOM of its room free, a group goes at once (latency first); below that a group of fewer than
# DRAIN_CHUNK events waits for more, until its oldest event has waited FILL_WAIT_SECONDS: a flood's
# requests go to full groups (benchmarks/e2e.py: 1000 requests drained in 13 s with 74 requests, not 28 s
# with 105).
PLENTY_OF_ROOM = 0.75
FILL_WAIT_SECONDS = 1.0
# ...and only while events are still arriving: when the newest pending one came longer ago than this, no
# more are coming soon (a flood's end) and the group goes as it is.
ARRIVING_SECONDS = 0.25
GROUP_COST_SECONDS = 3600


class LockHeartbeat:
    """Keeps a group's event locks alive while it runs, however long Bitrix24 makes it wait.

    A lock that expired under a slow but living group would let the sweeper hand its events to another
    worker (processed twice; the lookup before each write still keeps Bitrix24 exactly-once). A killed
    worker stops beating, so its locks still expire after EVENT_LOCK_SECONDS.
    """

    def __init__(self, locks: list, timeout: int):
        self.locks = locks
        self.interval = max(0.5, timeout / 3)
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._beat, name="event-lock-heartbeat", daemon=True)

    def __enter__(self):
        if self.locks:
            self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stopped.set()
        if self.thread.is_alive():
            self.thread.join(timeout=5)

    def _beat(self) -> None:
        while not self.stopped.wait(self.interval):
            for lock in self.locks:
                with contextlib.suppress(LockError, RedisError):  # lost: the sweeper's rules apply again
                    lock.reacquire()


def process_group(portal_id: int, event_ids: list[int]) -> dict[int, str]:
    """Process some events of one portal together: their lookups and writes share Bitrix24 batches."""
    return drain_group(portal_id, event_ids)[0]


def drain_group(portal_id: int, event_ids: list[int]) -> tuple[dict[int, str], int]:
    """`process_group`, also saying how many Bitrix24 requests the group sent."""
    redis = redis_connection()
    timeout = current_app.config["EVENT_LOCK_SECONDS"]
    locks, mine = [], []
    for event_id in event_ids:
        # thread_local=False: the heartbeat thread renews the locks this thread took
        lock = redis.lock(intake.event_lock_key(event_id), timeout=timeout, blocking_timeout=0, thread_local=False)
        if lock.acquire(blocking=False):
            locks.append(lock)
            mine.append(event_id)
    with LockHeartbeat(locks, timeout):
        return _process_locked(portal_id, mine, locks)


def _process_locked(portal_id: int, mine: list[int], locks: list) -> tuple[dict[int, str], int]:
    prepared = None
    try:
        prepared = prepare(portal_id, mine)
        statuses = dict(prepared.statuses)
        if prepared.works:
            run(prepared.group, prepared.works)
            statuses.update({work.event_id: work.status or "retry" for work in prepared.works})
            return statuses, prepared.group.requests
        return statuses, 0
    finally:
        if prepared is not None and prepared.group is not None:
            journal.schedule_requeues(portal_id, prepared.group.retries)
        for lock in locks:
            with contextlib.suppress(LockError, RedisError):  # expired, or Redis gone: its timeout frees it
                lock.release()


def run(group: Group, works: list[Work]) -> None:
    """Bitrix24 for a prepared group: one shared lookup, the plans, the shared writes."""
    try:
        reader = client_for_portal(group.portal_id)
        writer = client_for_portal(group.portal_id, max_retries=0)  # a write is never re-sent blindly
    except PortalNeedsReauth as exc:
        for work in works:
            journal.fail(work, "needs_reauth", str(exc))
        return
    try:
        _run(group, works, reader, writer)
    finally:
        group.requests = reader.stats.requests + writer.stats.requests


def _run(group: Group, works: list[Work], reader, writer) -> None:
    seen: set[str] = set()
    for work in works:
        if work.start:  # only the entity's comments are read
            work.needs = Needs(origin=origin_id(work.facts.kind, work.facts.external_id), phone=None, email=None,
                               duplicates=False, open_entity=False, activity=False)
        else:
            work.needs = lookup_needs(work.facts, group.settings, group.crm_mode or CRM_MODE_CLASSIC)
        # Two stages of one communication in one group ("finished" and "lost" of a chat) would both see
        # nothing created yet: the later one waits for the next round, where it finds the first's entity.
        key = work.needs.origin + (":transcript" if work.start else "")
        if key in seen:
            journal.defer(group, work, 1, "same_communication")
        seen.add(key)
    works = [w for w in works if not w.status]
    crm_mode = lookup(group, reader, works)
    if crm_mode is not None and crm_mode != group.crm_mode:
        Portal.query.filter_by(id=group.portal_id).update({"crm_mode": crm_mode})
        db.session.commit()
        group.crm_mode = crm_mode

    pending = []
    with journal.rows_together([w.event_id for w in works if not w.status]):  # skipped and found: one commit
        for work in works:
            if work.status:
                continue
            try:
                work.plan = plan(work.facts, group.settings, lookup_of(group, work), group.lang, gated=True)
            except Exception as exc:  # noqa: BLE001 - one event's bad data never stops the others
                log.exception("planning event %s failed", work.event_id)
                journal.fail(work, "internal_error", f"{type(exc).__name__}: {exc}")
                continue
            if work.plan.action == "skip":
                journal.done(work, EventStatus.SKIPPED, work.plan.reason, {"plan": work.plan.summary})
            elif work.plan.action == "exists":
                ids = {f"{k}_id": v for k, v in (work.plan.summary.get("existing") or {}).items()}
                journal.done(work, EventStatus.DONE, "already_created", {**ids, "plan": work.plan.summary})
            else:
                pending.append(work)
    if pending:
        write(group, writer, pending)


def employee_of(work: Work):
    """The UIS employee who handled the communication (a request's, a chat's, a call's), if any."""
    extra = work.facts.extra or {}
    return (work.facts.payload or {}).get("employee_id") or (extra.get("chat") or {}).get("employee_id") or \
        (extra.get("call") or {}).get("last_answered_employee_id") or (extra.get("call") or {}).get(
            "last_talked_employee_id")


def lookup_of(group: Group, work: Work) -> Lookup:
    """What the planner reads for one event: the lookup's findings and the group's reference data."""
    reference = group.reference
    return Lookup(crm_mode=group.crm_mode or CRM_MODE_CLASSIC, existing=work.found.get("existing", {}),
                  duplicates=work.found.get("duplicates", {}), open_entity=work.found.get("open"),
                  written=work.written, fallback_responsible_id=group.installer_id,
                  employee_user_id=reference.employee_user(employee_of(work)),
                  active_user_ids=reference.active_user_ids, b24_fields=reference.b24_fields,
                  portal_url=group.portal_url, start_entity=work.start, comments=work.found.get("comments"))


def drain_portal(portal_id: int, pauses: bool = True) -> int:
    """Pop this portal's pending events in groups and process each group in shared batches; requeue when more.

    `pauses=False` is for callers that decide themselves when a group runs (the devkit, benchmarks/burst.py):
    no pause before a group, its requests wait for the bucket in the client.
    """
    redis = redis_connection(current_app.config["REDIS_URL"])
    key, flag = intake.pending_key(portal_id), intake.drain_flag(portal_id)
    bucket = _bucket(portal_id, redis) if pauses else None
    # The next group's Bitrix24 requests: as many as the portal's last group sent (kept across jobs).
    needed = int(redis.get(group_cost_key(portal_id)) or 1)
    done = 0
    while done < DRAIN_BUDGET:
        pause = pause_before_group(redis, key, bucket, needed)
        if pause:
            # Back after the pause, behind the other portals' drains; the flag stays ours meanwhile.
            redis.expire(flag, intake.drain_flag_seconds() + int(pause) + 1)
            queues.start_drain_in(portal_id, pause)
            return done
        redis.expire(flag, intake.drain_flag_seconds())
        popped = redis.zpopmin(key, DRAIN_CHUNK)
        if not popped:
            break
        ids = [int(member) for member, _score in popped]
        try:
            _statuses, sent = drain_group(portal_id, ids)
            needed = max(1, sent)
            redis.set(group_cost_key(portal_id), needed, ex=GROUP_COST_SECONDS)
        except (OperationalError, InterfaceError) as exc:
            # The database went away (restart, failover): not the events' fault. They go back to the
            # pending set after a pause; if Redis refuses too, the sweeper finds them in the database.
            log.warning("database unavailable while processing events %s (%s); retried in %s s", ids,
                        exc.__class__.__name__, DATABASE_RETRY_SECONDS)
            db.session.rollback()
            journal.schedule_requeues(portal_id, {DATABASE_RETRY_SECONDS: ids})
        except Exception:  # noqa: BLE001 - one group's bug never stalls the portal's queue
            log.exception("processing events %s failed", ids)
            db.session.rollback()
            _fail_unfinished(ids)
        done += len(ids)
    if redis.zcard(key):
        queues.start_drain(portal_id)  # keep the flag: this portal's drain continues after the others
    else:
        redis.delete(flag)
        # An event added between the last pop and the delete must not wait for the sweeper.
        if redis.zcard(key) and redis.set(flag, "1", nx=True, ex=intake.drain_flag_seconds()):
            queues.start_drain(portal_id)
    return done


def group_cost_key(portal_id: int) -> str:
    return f"bx:drain-cost:{portal_id}"


def pause_before_group(redis, key: str, bucket, needed: int) -> float:
    """0: the next group goes now; else the seconds its drain gives the worker back for.

    The bucket would hold the group longer than YIELD_WAIT_SECONDS: until it has room. The bucket is
    below PLENTY_OF_ROOM, fewer than DRAIN_CHUNK events wait, the newest came within ARRIVING_SECONDS
    and the oldest has waited less than FILL_WAIT_SECONDS: until it has (meanwhile the group fills up).
    """
    pending = redis.zcard(key)
    if bucket is None or not pending:
        return 0.0
    # A group that sent more than half the bucket (retries, say) must not make the next one wait forever.
    wait = bucket.wait_for(min(needed, bucket.capacity / 2))
    if wait > YIELD_WAIT_SECONDS:
        return wait
    if pending >= DRAIN_CHUNK or bucket.wait_for(bucket.capacity * PLENTY_OF_ROOM) == 0:
        return 0.0
    ends = redis.zrange(key, 0, 0, withscores=True) + redis.zrange(key, -1, -1, withscores=True)
    if len(ends) < 2:  # taken meanwhile
        return 0.0
    (_, oldest), (_, newest) = ends  # scores: when each event was queued
    now = time.time()
    if now - newest > ARRIVING_SECONDS:
        return 0.0
    return min(FILL_WAIT_SECONDS, max(0.0, FILL_WAIT_SECONDS - (now - oldest)))


def _bucket(portal_id: int, redis):
    """The portal's bucket, or None when it cannot be read now (the database away, the portal deleted):
    the drain then goes on without yielding, and its groups meet the same condition in their own way."""
    try:
        return rate_limiter_for_portal(portal_id, redis)
    except (OperationalError, InterfaceError) as exc:
        log.warning("portal %s: bucket not read (%s)", portal_id, exc.__class__.__name__)
        return None


def _fail_unfinished(ids: list[int]) -> None:
    for event_id in ids:
        row = db.session.get(Event, event_id)
        if row is not None and row.status in (EventStatus.NEW, EventStatus.PROCESSING):
            journal.finish(event_id, EventStatus.FAILED, "internal_error", error="unexpected error, logged")
