"""Durable intake: every push or polled row becomes an Event row (committed) before it is queued."""
from __future__ import annotations

import contextlib
import logging
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo

from flask import current_app
from redis.exceptions import RedisError
from sqlalchemy.exc import IntegrityError

from bx_app import queues
from bx_app.extensions import db, redis_connection
from bx_app.models import Credential, Event
from bx_app.models.event import EventStatus
from bx_app.models.timeutil import from_local, utcnow, zone_named

log = logging.getLogger(__name__)

# A row left unqueued (Redis was down) or stuck "processing" (worker killed) this long is swept.
STRANDED_AFTER = timedelta(seconds=30)
# A drain job refreshes its portal's flag while it works; a lost job lets it expire.
DRAIN_FLAG_SECONDS = 120


def drain_flag_seconds() -> int:
    """The flag of a killed drain outlives it no longer than a killed event's lock (EVENT_LOCK_SECONDS).

    A flag that expires under a live drain only lets a second drain start; the event locks keep the two
    off the same rows.
    """
    return max(2, min(DRAIN_FLAG_SECONDS, int(current_app.config["EVENT_LOCK_SECONDS"])))


@dataclass(frozen=True)
class Recorded:
    event_id: int
    created: bool


def dedupe_key(kind: str, stage: str, external_id: str) -> str:
    """One row per communication and stage, whichever path (push or poll) saw it first."""
    return f"{kind}:{external_id}:{stage}"


def account_zone(credential_id: int) -> tzinfo:
    """The zone of the UIS account behind a credential: the zone of every time UIS sends without an offset."""
    credential = db.session.get(Credential, credential_id)
    account = credential.uis_account if credential is not None else None
    return zone_named(account.timezone if account is not None else None)


def record_event(credential_id: int, kind: str, stage: str, external_id: str, payload: dict,
                 source: str, occurred_at: datetime | None = None) -> Recorded:
    """Store the event once; a repeat (same dedupe key) returns the existing row and merges new fields.

    The row is written as already handed to the queue (`enqueued_at`), so the common path is one
    INSERT and one commit; `enqueue_event` clears the mark in the rare case Redis refuses.
    """
    key = dedupe_key(kind, stage, external_id)
    if occurred_at is not None and occurred_at.tzinfo is None:
        # UIS times (notification_time, report date_time) are wall-clock times of the account's zone.
        occurred_at = from_local(occurred_at, account_zone(credential_id))
    event = Event(credential_id=credential_id, kind=kind, stage=stage, external_id=str(external_id),
                  dedupe_key=key, source=source, payload=payload, status=EventStatus.NEW,
                  occurred_at=occurred_at, enqueued_at=utcnow())
    db.session.add(event)
    try:
        with _sqlite_writer_lock():
            db.session.commit()
    except IntegrityError:
        db.session.rollback()  # seen before (a repeated push, the poll after the push, or a race)
        existing = Event.query.filter_by(credential_id=credential_id, dedupe_key=key).one()
        _merge_payload(existing, payload, source)
        return Recorded(existing.id, False)
    return Recorded(event.id, True)


_writer_lock = threading.Lock()


def _sqlite_writer_lock():
    """On SQLite, the threads of one process queue here instead of in SQLite's sleeping busy handler."""
    if db.engine.dialect.name == "sqlite":
        return _writer_lock
    return contextlib.nullcontext()


def _merge_payload(event: Event, payload: dict, source: str) -> None:
    """A poll may know more than the push (and vice versa): keep what we had, add what is new."""
    merged = dict(event.payload or {})
    changed = False
    for key, value in payload.items():
        if value not in (None, "", [], {}) and merged.get(key) in (None, "", [], {}):
            merged[key] = value
            changed = True
    if changed and event.status in (EventStatus.NEW, EventStatus.FAILED):
        event.payload = merged
        db.session.commit()


def pending_key(portal_id: int) -> str:
    return f"bx:pending:{portal_id}"


def drain_flag(portal_id: int) -> str:
    return f"bx:draining:{portal_id}"


def portal_of_credential(credential_id: int) -> int:
    return db.session.query(Credential.portal_id).filter(Credential.id == credential_id).scalar()


def enqueue_event(event_id: int, portal_id: int | None = None) -> bool:
    """Add the event to its portal's pending set and make sure one drain job runs for that portal.

    One drain job per portal (not one job per event) is what lets the worker pack a burst of one
    portal's events into shared Bitrix24 batches, and take portals in turn. False when Redis is
    unavailable: the row then has no `enqueued_at`, and the sweeper queues it later.
    """
    if portal_id is None:
        portal_id = portal_of_credential(db.session.get(Event, event_id).credential_id)
    try:
        redis = redis_connection(current_app.config["REDIS_URL"])
        pipe = redis.pipeline(transaction=False)
        pipe.zadd(pending_key(portal_id), {str(event_id): time.time()}, nx=True)
        pipe.set(drain_flag(portal_id), "1", nx=True, ex=drain_flag_seconds())
        _, started = pipe.execute()
        if started:
            queues.start_drain(portal_id)
    except Exception as exc:  # noqa: BLE001 - Redis down must never lose the stored row
        log.warning("cannot enqueue event %s (%s); the sweeper will retry", event_id, exc)
        Event.query.filter_by(id=event_id).update({"enqueued_at": None})
        db.session.commit()
        return False
    return True


def requeue_events(portal_id: int, event_ids: list[int]) -> int:
    """Put events that are still "new" (a due retry, a deferred stage) back into the portal's pending set."""
    ids = [row.id for row in Event.query.filter(Event.id.in_(event_ids), Event.status == EventStatus.NEW)
           .with_entities(Event.id)]
    db.session.commit()
    if not ids:
        return 0
    redis = redis_connection(current_app.config["REDIS_URL"])
    now = time.time()
    pipe = redis.pipeline(transaction=False)
    pipe.zadd(pending_key(portal_id), {str(i): now for i in ids}, nx=True)
    pipe.set(drain_flag(portal_id), "1", nx=True, ex=drain_flag_seconds())
    _, started = pipe.execute()
    if started:
        queues.start_drain(portal_id)
    Event.query.filter(Event.id.in_(ids)).update({"enqueued_at": utcnow()}, synchronize_session=False)
    db.session.commit()
    return len(ids)


def retry_events(credential_id: int, event_ids: list[int] | None = None) -> list[int]:
    """Put failed events (all of a credential's, or the given ones) back to "new" and queue them."""
    query = Event.query.filter(Event.credential_id == credential_id, Event.status == EventStatus.FAILED)
    if event_ids is not None:
        query = query.filter(Event.id.in_(event_ids))
    ids = [row.id for row in query.with_entities(Event.id).all()]
    if not ids:
        return []
    Event.query.filter(Event.id.in_(ids)).update(
        {"status": EventStatus.NEW, "reason": None, "enqueued_at": utcnow()}, synchronize_session=False)
    db.session.commit()
    for event_id in ids:
        enqueue_event(event_id)
    return ids


def sweep_stranded() -> int:
    """Queue rows that never reached Redis, and rows left "processing" by a killed worker."""
    now = utcnow()
    stuck_after = timedelta(seconds=current_app.config["EVENT_LOCK_SECONDS"])
    # A row older than the event lock cannot be in the middle of its intake either.
    stranded = Event.query.filter(
        Event.status == EventStatus.NEW,
        Event.created_at < now - min(STRANDED_AFTER, stuck_after),
        (Event.enqueued_at.is_(None)) | (Event.enqueued_at < now - stuck_after),
    ).with_entities(Event.id).limit(1000).all()
    stuck = Event.query.filter(
        Event.status == EventStatus.PROCESSING,
        Event.updated_at < now - stuck_after,
    ).with_entities(Event.id).limit(1000).all()
    stuck = _without_live_locks([r.id for r in stuck])
    ids = [r.id for r in stranded] + stuck
    if stuck:
        Event.query.filter(Event.id.in_(stuck)).update(
            {"status": EventStatus.NEW}, synchronize_session=False)
        db.session.commit()
    queued = sum(1 for event_id in ids if enqueue_event(event_id))
    if ids:
        log.info("sweeper queued %s of %s stranded events", queued, len(ids))
    restart_stalled_drains()
    return queued


def event_lock_key(event_id: int) -> str:
    """The Redis lock a worker holds on an event while it processes it (renewed while it runs)."""
    return f"bx:event-lock:{event_id}"


def _without_live_locks(event_ids: list[int]) -> list[int]:
    """Rows "processing" for long whose worker still holds (and renews) their lock are not stuck, only slow."""
    if not event_ids:
        return []
    try:
        redis = redis_connection(current_app.config["REDIS_URL"])
        alive = redis.mget([event_lock_key(event_id) for event_id in event_ids])
    except RedisError:
        return event_ids  # no Redis, no locks: every such row is stuck
    return [event_id for event_id, held in zip(event_ids, alive, strict=True) if held is None]


def restart_stalled_drains() -> int:
    """A drain job lost with its worker leaves pending events and an expired flag: start it again."""
    redis = redis_connection(current_app.config["REDIS_URL"])
    restarted = 0
    for key in redis.scan_iter(match="bx:pending:*", count=500):
        portal_id = int(key.decode().rsplit(":", 1)[1])
        if redis.zcard(key) and redis.set(drain_flag(portal_id), "1", nx=True, ex=drain_flag_seconds()):
            queues.start_drain(portal_id)
            restarted += 1
    return restarted
