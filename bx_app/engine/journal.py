"""Each event's fate in its journal row: done, skipped with a reason, failed with Bitrix24's words, or retried."""
from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import timedelta
from types import SimpleNamespace

from bx_app import observability, queues
from bx_app.engine.work import Group, Work
from bx_app.extensions import db
from bx_app.models import Event
from bx_app.models.event import EventStatus
from bx_app.models.timeutil import utcnow

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 8
RETRY_DELAYS = (15, 30, 60, 120, 300, 600, 1800, 3600)

# Rows finished inside `rows_together()`: committed once when it ends, then counted and logged.
_together: ContextVar[list | None] = ContextVar("journal_rows_together", default=None)


@contextmanager
def rows_together(event_ids: list[int]) -> Iterator[None]:
    """The journal rows of these events finished in one commit (one write batch's answers), not one each.

    The rows are read in one query first. Should the worker die before the commit, nothing is lost: the
    events are retried, and the lookup before any write finds what Bitrix24 already has.
    """
    staged: list = []
    token = _together.set(staged)
    try:
        if event_ids:
            Event.query.filter(Event.id.in_(event_ids)).all()  # into the session: no SELECT per row below
        yield
        db.session.commit()
    finally:
        _together.reset(token)
    for line, status in staged:
        observability.event_journaled(line, status)


def finish(event_id: int, status: str, reason: str | None = None, result: dict | None = None,
           error: str | None = None) -> None:
    event = db.session.get(Event, event_id)
    event.status = status
    event.reason = reason
    if result is not None:
        event.result = result
    if error is not None:
        event.last_error = error[:4000]
    event.processed_at = utcnow()
    line = _line_of(event)  # read before the commit expires the row: the log line costs no SELECT
    staged = _together.get()
    if staged is not None:
        staged.append((line, status))
        return
    db.session.commit()
    observability.event_journaled(line, status)


def _line_of(event: Event) -> SimpleNamespace:
    """What the event's metrics and log line read (observability.event_journaled)."""
    return SimpleNamespace(id=event.id, credential_id=event.credential_id, kind=event.kind, stage=event.stage,
                           reason=event.reason, attempts=event.attempts, created_at=event.created_at)


def done(work: Work, status: str, reason: str | None, result: dict) -> None:
    finish(work.event_id, status, reason, result=result)
    work.status = status


def fail(work: Work, reason: str, error: str, result: dict | None = None) -> None:
    finish(work.event_id, EventStatus.FAILED, reason, result=result, error=error)
    work.status = EventStatus.FAILED


def retry(group: Group, work: Work, reason: str, delay: int) -> None:
    if work.status:
        return
    work.status = schedule_retry(group, work.event_id, work.attempts, reason, delay)


def schedule_retry(group: Group, event_id: int, attempts: int, reason: str, delay: int = 0) -> str:
    if attempts >= MAX_ATTEMPTS:
        finish(event_id, EventStatus.FAILED, "gave_up", error=reason)
        return EventStatus.FAILED
    delay = max(delay, RETRY_DELAYS[min(attempts - 1, len(RETRY_DELAYS) - 1)])
    requeue_later(group, event_id, delay, reason, "retry_scheduled")
    return "retry"


def requeue_later(group: Group, event_id: int, delay: int, error: str | None, reason: str) -> None:
    """Back to "new", due in `delay` seconds (the group's end schedules it; the sweeper is the safety net)."""
    event = db.session.get(Event, event_id)
    event.status = EventStatus.NEW
    if error is not None:
        event.last_error = error[:4000]
    event.reason = reason
    event.enqueued_at = utcnow() + timedelta(seconds=delay)
    db.session.commit()
    group.retries.setdefault(int(delay), []).append(event_id)


def defer(group: Group, work: Work, delay: int, reason: str) -> None:
    """Not now, and not a failure: the event waits (another stage of its chat first); no attempt is spent."""
    if work.status:
        return
    Event.query.filter_by(id=work.event_id).update({"attempts": max(0, work.attempts - 1)})
    requeue_later(group, work.event_id, delay, None, reason)
    work.status = "deferred"


def schedule_requeues(portal_id: int, retries: dict[int, list[int]]) -> None:
    """One delayed `requeue_events` job per delay: retried events go back to the portal's pending set,
    where the drain coalesces them with the rest (never one job per event). If Redis refuses, the rows'
    `enqueued_at` (set to when they are due) lets the sweeper queue them."""
    for delay, ids in sorted(retries.items()):
        try:
            queues.requeue_later(portal_id, ids, delay)
        except Exception as exc:  # noqa: BLE001 - the sweeper picks the rows up
            log.warning("cannot schedule the retry of events %s: %s", ids, exc)
