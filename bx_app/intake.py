"""Durable intake: every push or polled row becomes an Event row (committed) before it is queued."""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy.exc import IntegrityError

from bx_app.extensions import db
from bx_app.models import Event
from bx_app.models.event import EventStatus
from bx_app.models.timeutil import utcnow

log = logging.getLogger(__name__)

# A row left unqueued (Redis was down) or stuck "processing" (worker killed) this long is swept.
STRANDED_AFTER = timedelta(seconds=30)


@dataclass(frozen=True)
class Recorded:
    event_id: int
    created: bool


def dedupe_key(kind: str, stage: str, external_id: str) -> str:
    """One row per communication and stage, whichever path (push or poll) saw it first."""
    return f"{kind}:{external_id}:{stage}"


def record_event(credential_id: int, kind: str, stage: str, external_id: str, payload: dict,
                 source: str, occurred_at: datetime | None = None) -> Recorded:
    """Store the event once; a repeat (same dedupe key) returns the existing row and merges new fields."""
    key = dedupe_key(kind, stage, external_id)
    existing = Event.query.filter_by(credential_id=credential_id, dedupe_key=key).one_or_none()
    if existing is not None:
        _merge_payload(existing, payload, source)
        return Recorded(existing.id, False)
    event = Event(credential_id=credential_id, kind=kind, stage=stage, external_id=str(external_id),
                  dedupe_key=key, source=source, payload=payload, status=EventStatus.NEW,
                  occurred_at=occurred_at)
    db.session.add(event)
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()  # a concurrent push/poll of the same event won the insert
        existing = Event.query.filter_by(credential_id=credential_id, dedupe_key=key).one()
        return Recorded(existing.id, False)
    return Recorded(event.id, True)


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


def enqueue_event(event_id: int) -> bool:
    """Queue processing; False when Redis is unavailable (the sweeper queues it later)."""
    from bx_app import jobs

    try:
        jobs.queue(jobs.QUEUE_EVENTS).enqueue(
            "bx_app.jobs.process_event", event_id, job_timeout=300, result_ttl=600, failure_ttl=86400)
    except Exception as exc:  # noqa: BLE001 - Redis down must never lose the stored row
        log.warning("cannot enqueue event %s (%s); the sweeper will retry", event_id, exc)
        return False
    Event.query.filter_by(id=event_id).update({"enqueued_at": utcnow()})
    db.session.commit()
    return True


def retry_events(credential_id: int, event_ids: list[int] | None = None) -> list[int]:
    """Put failed events (all of a credential's, or the given ones) back to "new" and queue them."""
    query = Event.query.filter(Event.credential_id == credential_id, Event.status == EventStatus.FAILED)
    if event_ids is not None:
        query = query.filter(Event.id.in_(event_ids))
    ids = [row.id for row in query.with_entities(Event.id).all()]
    if not ids:
        return []
    Event.query.filter(Event.id.in_(ids)).update(
        {"status": EventStatus.NEW, "reason": None, "enqueued_at": None}, synchronize_session=False)
    db.session.commit()
    for event_id in ids:
        enqueue_event(event_id)
    return ids


def sweep_stranded() -> int:
    """Queue rows that never reached Redis, and rows left "processing" by a killed worker."""
    now = utcnow()
    stuck_after = timedelta(seconds=current_app.config["EVENT_LOCK_SECONDS"])
    stranded = Event.query.filter(
        Event.status == EventStatus.NEW,
        Event.created_at < now - STRANDED_AFTER,
        (Event.enqueued_at.is_(None)) | (Event.enqueued_at < now - stuck_after),
    ).with_entities(Event.id).limit(1000).all()
    stuck = Event.query.filter(
        Event.status == EventStatus.PROCESSING,
        Event.updated_at < now - stuck_after,
    ).with_entities(Event.id).limit(1000).all()
    ids = [r.id for r in stranded] + [r.id for r in stuck]
    if stuck:
        Event.query.filter(Event.id.in_([r.id for r in stuck])).update(
            {"status": EventStatus.NEW}, synchronize_session=False)
        db.session.commit()
    queued = sum(1 for event_id in ids if enqueue_event(event_id))
    if ids:
        log.info("sweeper queued %s of %s stranded events", queued, len(ids))
    return queued
