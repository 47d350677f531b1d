"""The pull path: read new offline requests and chats from the UIS Data API per credential, from stored cursors.

Streams (one PollCursor row each per credential):
- `offline_messages`: requests by their receive time `date_time`, from the cursor minus an overlap (rows
  written late are not missed; the dedupe key makes the overlap harmless) up to "now" in the account's
  zone. Each row is an "arrived" event; a row already processed is also a "processed" event.
- `offline_processed`: UIS has no push for "request processed" (seed O5), and a request can be processed
  days after it arrived — outside the arrival window. So requests seen but not yet processed (within
  PROCESSED_HORIZON) are re-read by id, and the ones that changed to `processed` become "processed" events.
- `chats`: chats by start time `date_time` (the same overlap). Every chat row is a "started" event (UIS pushes
  no chat start); a closed one (lost/succeed/refused) is also a "finished" event.
- `calls` (only while the "Звонки" tab is on): the catch-up of call pushes — ended calls by start time
  (a 2-hour overlap: a call is listed once it ends); a call no push brought becomes a "finished" event
  (the report row is its data), plus "record_ready" when it has a record.
- `chats_open`: chats started but not finished yet (within PROCESSED_HORIZON) are re-read by id; the closed
  ones become "finished" events (the `chat_finished`/`lost_chat` pushes usually come first; the engine's
  ORIGIN_ID makes a repeat harmless).
The cursor only moves after a whole window was read and stored: a Data API error leaves it where it was,
and the next poll reads the same window again.
"""
from __future__ import annotations

import contextlib
import logging
from datetime import datetime, timedelta, tzinfo

from flask import current_app
from redis.exceptions import LockError, RedisError

from bx_app import channels, intake, queues, settings_store
from bx_app.extensions import db, redis_connection
from bx_app.models import Credential, Event, PollCursor, Portal, UisAccount
from bx_app.models.account import PortalStatus
from bx_app.models.timeutil import from_local, to_local, utcnow, zone_named
from bx_app.uis.client import CALL_FIELDS, DataApiClient, parse_uis_time
from bx_app.uis.errors import AccessDenied, AuthError, LimitExceeded, UisError

log = logging.getLogger(__name__)

OVERLAP = timedelta(minutes=10)
FIRST_LOOKBACK = timedelta(hours=1)
PROCESSED_HORIZON = timedelta(days=14)
STREAM_OFFLINE, STREAM_OFFLINE_PROCESSED = channels.OFFLINE.poll_streams
STREAM_CHATS, STREAM_CHATS_OPEN = channels.CHATS.poll_streams
(STREAM_CALLS,) = channels.CALLS.poll_streams
CLOSED_CHAT = ("lost", "succeed", "refused")
# get.calls_report lists a call once it has ended, by its start time: a call may last this long and
# still be found by a later window.
CALL_OVERLAP = timedelta(hours=2)


def account_now(timezone: str | None) -> datetime:
    """"Now" on the account's wall clock, as the Data API's date windows want it."""
    return datetime.now(zone_named(timezone)).replace(tzinfo=None, microsecond=0)


def pollable_credential_ids() -> list[int]:
    rows = (db.session.query(Credential.id)
            .join(Portal, Portal.id == Credential.portal_id)
            .filter(Credential.uis_account_id.isnot(None), Portal.status == PortalStatus.INSTALLED)
            .all())
    return [r.id for r in rows]


def enqueue_polls() -> int:
    ids = pollable_credential_ids()
    for credential_id in ids:
        queues.poll_credential(credential_id)
    return len(ids)


def _window(credential_id: int, stream: str, timezone: str | None, overlap: timedelta):
    """A stream's next read: the account's zone, its wall-clock "now", and the cursor minus the overlap.

    The Data API's windows are the account's wall clock; cursors are stored as UTC instants.
    """
    cursor = _cursor(credential_id, stream)
    zone = zone_named(timezone)
    now = account_now(timezone)
    start = (to_local(cursor.cursor_at, zone) - overlap) if cursor.cursor_at else now - FIRST_LOOKBACK
    return zone, now, start


def _cursor(credential_id: int, stream: str) -> PollCursor:
    cursor = PollCursor.query.filter_by(credential_id=credential_id, stream=stream).one_or_none()
    if cursor is None:
        cursor = PollCursor(credential_id=credential_id, stream=stream)
        db.session.add(cursor)
        db.session.flush()
    return cursor


def _record_error(credential_id: int, account_id: int, stream: str, error: UisError) -> None:
    cursor = _cursor(credential_id, stream)
    cursor.last_error = error.user_message("ru")
    cursor.last_run_at = utcnow()
    account = db.session.get(UisAccount, account_id)
    if isinstance(error, AuthError):
        account.status = "token_invalid"
    elif isinstance(error, AccessDenied):
        account.status = "ip_denied"
    elif isinstance(error, LimitExceeded):
        account.status = "limited"
    else:
        account.status = "error"
    account.status_reason = cursor.last_error
    db.session.commit()


def _occurred(row: dict) -> datetime | None:
    try:
        return parse_uis_time(row.get("date_time"))
    except (TypeError, ValueError):
        return None


def poll_credential(credential_id: int, client: DataApiClient | None = None) -> dict:
    """Read the offline-request streams of one credential; returns counts for logs and tests."""
    lock = redis_connection().lock(f"bx:poll-lock:{credential_id}", timeout=600, blocking_timeout=0)
    if not lock.acquire(blocking=False):
        return {"skipped": "already polling"}
    try:
        return _poll_locked(credential_id, client)
    finally:
        with contextlib.suppress(LockError, RedisError):  # expired, or Redis gone: its timeout frees it
            lock.release()


def _poll_locked(credential_id: int, client: DataApiClient | None) -> dict:
    credential = db.session.get(Credential, credential_id)
    if credential is None or credential.uis_account is None:
        return {"skipped": "no UIS account"}
    account = credential.uis_account
    account_id, timezone, token = account.id, account.timezone, account.data_api_token
    if client is None:
        client = DataApiClient(current_app.config["UIS_DATA_API_URL"], token, timezone=timezone)
    counts = {"arrived": 0, "processed": 0, "rows": 0}

    zone, now, start = _window(credential_id, STREAM_OFFLINE, timezone, OVERLAP)
    start = min(start, now - OVERLAP)  # a cursor ahead of "now" (clock or zone change) still reads
    db.session.commit()
    try:
        rows = client.get_offline_messages(start, now)
    except UisError as error:
        log.warning("poll of credential %s failed: %s", credential_id, error)
        _record_error(credential_id, account_id, STREAM_OFFLINE, error)
        return {"error": str(error)}
    for row in rows:
        counts["rows"] += 1
        if row.get("id") is None:
            continue
        payload = dict(row)
        recorded = intake.record_event(credential_id, "offline_message", "arrived", str(row["id"]), payload,
                                       source="poll", occurred_at=_occurred(row))
        if recorded.created:
            counts["arrived"] += 1
            intake.enqueue_event(recorded.event_id)
        if row.get("status") == "processed":
            counts["processed"] += _record_processed(credential_id, row)
    _advance(credential_id, STREAM_OFFLINE, now, zone)
    account = db.session.get(UisAccount, account_id)
    if account.status != "ok":
        account.status, account.status_reason = "ok", None
    db.session.commit()

    counts["processed"] += _poll_processed(credential_id, account_id, client, now, zone)
    counts.update(_poll_chats(credential_id, account_id, client))
    if settings_store.load_settings(credential_id).calls.active:
        counts.update(_poll_calls(credential_id, account_id, client))
    return counts


def _advance(credential_id: int, stream: str, now, zone) -> None:
    """The stream's window up to `now` is stored: its cursor moves there and forgets the last error."""
    cursor = _cursor(credential_id, stream)
    cursor.cursor_at, cursor.last_run_at, cursor.last_error = from_local(now, zone), utcnow(), None


def _poll_calls(credential_id: int, account_id: int, client: DataApiClient) -> dict:
    """Ended calls by start time; those whose end no push brought are recorded from the report row."""
    counts = {"call_finished": 0, "call_record": 0}
    zone, now, start = _window(credential_id, STREAM_CALLS, db.session.get(UisAccount, account_id).timezone,
                               CALL_OVERLAP)
    db.session.commit()
    try:
        rows = client.get_calls(start, now, fields=CALL_FIELDS)
    except UisError as error:
        _record_error(credential_id, account_id, STREAM_CALLS, error)
        return counts
    ids = [str(r["id"]) for r in rows if r.get("id") is not None]
    seen: dict[str, set] = {}
    for chunk in range(0, len(ids), 500):
        for external_id, stage in Event.query.filter(
                Event.credential_id == credential_id, Event.kind == "call",
                Event.external_id.in_(ids[chunk:chunk + 500])).with_entities(Event.external_id, Event.stage):
            seen.setdefault(external_id, set()).add(stage)
    db.session.commit()
    for row in rows:
        if row.get("id") is None or not row.get("finish_time"):
            continue
        stages = seen.get(str(row["id"]), set())
        wanted = [] if stages & {"finished", "lost"} else ["finished"]
        if row.get("full_record_file_link") and "record_ready" not in stages:
            wanted.append("record_ready")
        for stage in wanted:
            occurred = parse_uis_time(row.get("finish_time")) if row.get("finish_time") else None
            recorded = intake.record_event(credential_id, "call", stage, str(row["id"]), {**row, "_call": row},
                                           source="poll", occurred_at=occurred)
            if recorded.created:
                counts["call_record" if stage == "record_ready" else "call_finished"] += 1
                intake.enqueue_event(recorded.event_id)
    _advance(credential_id, STREAM_CALLS, now, zone)
    db.session.commit()
    return counts


def _record_chat(credential_id: int, row: dict, counts: dict) -> None:
    """A chat row: its "started" stage always (a start is only seen here), "finished" once it is closed."""
    stages = ["started"] + (["finished"] if row.get("status") in CLOSED_CHAT else [])
    for stage in stages:
        recorded = intake.record_event(credential_id, "chat", stage, str(row["id"]), dict(row), source="poll",
                                       occurred_at=_occurred(row))
        if recorded.created:
            counts[f"chat_{stage}"] += 1
            intake.enqueue_event(recorded.event_id)


def _poll_chats(credential_id: int, account_id: int, client: DataApiClient) -> dict:
    """Chats by start time from the cursor (with the overlap), then the chats still awaiting their finish."""
    counts = {"chat_started": 0, "chat_finished": 0}
    zone, now, start = _window(credential_id, STREAM_CHATS, db.session.get(UisAccount, account_id).timezone,
                               OVERLAP)
    db.session.commit()
    try:
        rows = client.get_chats(start, now)
    except UisError as error:
        _record_error(credential_id, account_id, STREAM_CHATS, error)
        return counts
    for row in rows:
        if row.get("id") is not None:
            _record_chat(credential_id, row, counts)
    _advance(credential_id, STREAM_CHATS, now, zone)
    db.session.commit()

    # Awaiting finish: chats started (seen above or earlier) without a finished/lost stage yet.
    horizon = utcnow() - PROCESSED_HORIZON
    started = (Event.query.filter(Event.credential_id == credential_id, Event.kind == "chat",
                                  Event.stage == "started", Event.created_at >= horizon)
               .with_entities(Event.external_id, Event.occurred_at).all())
    closed = {r.external_id for r in Event.query.filter(
        Event.credential_id == credential_id, Event.kind == "chat", Event.stage.in_(("finished", "lost")),
        Event.created_at >= horizon).with_entities(Event.external_id).all()}
    waiting = [(ext, at) for ext, at in started if ext not in closed and ext.isdigit()]
    db.session.commit()
    if not waiting:
        return counts
    oldest = min((to_local(at, zone) for _, at in waiting if at), default=now - PROCESSED_HORIZON)
    ids = [int(ext) for ext, _ in waiting]
    try:
        for chunk_start in range(0, len(ids), 500):
            for row in client.get_chats(oldest - timedelta(minutes=1), now, filter={
                    "field": "id", "operator": "in", "value": ids[chunk_start:chunk_start + 500]}):
                if row.get("status") in CLOSED_CHAT and row.get("id") is not None:
                    _record_chat(credential_id, row, counts)
    except UisError as error:
        _record_error(credential_id, account_id, STREAM_CHATS_OPEN, error)
        return counts
    _advance(credential_id, STREAM_CHATS_OPEN, now, zone)
    db.session.commit()
    return counts


def _record_processed(credential_id: int, row: dict) -> int:
    occurred = parse_uis_time(row["process_time"]) if row.get("process_time") else _occurred(row)
    recorded = intake.record_event(credential_id, "offline_message", "processed", str(row["id"]), dict(row),
                                   source="poll", occurred_at=occurred)
    if recorded.created:
        intake.enqueue_event(recorded.event_id)
        return 1
    return 0


def _poll_processed(credential_id: int, account_id: int, client: DataApiClient, now: datetime,
                    zone: tzinfo) -> int:
    """Re-read requests that arrived but were not processed yet; record the ones now processed."""
    horizon = utcnow() - PROCESSED_HORIZON
    arrived = (Event.query
               .filter(Event.credential_id == credential_id, Event.kind == "offline_message",
                       Event.stage == "arrived", Event.created_at >= horizon)
               .with_entities(Event.external_id, Event.occurred_at).all())
    if not arrived:
        return 0
    processed = {r.external_id for r in Event.query.filter(
        Event.credential_id == credential_id, Event.kind == "offline_message", Event.stage == "processed",
        Event.created_at >= horizon).with_entities(Event.external_id).all()}
    waiting = [(ext, at) for ext, at in arrived if ext not in processed]
    if not waiting:
        return 0
    oldest = min((to_local(at, zone) for _, at in waiting if at), default=now - PROCESSED_HORIZON)
    ids = [int(ext) for ext, _ in waiting if ext.isdigit()]
    found = 0
    try:
        for start in range(0, len(ids), 500):
            chunk = ids[start:start + 500]
            rows = client.get_offline_messages(oldest - timedelta(minutes=1), now, filter={
                "filters": [{"field": "id", "operator": "in", "value": chunk},
                            {"field": "status", "operator": "=", "value": "processed"}],
                "condition": "and"})
            for row in rows:
                if row.get("status") == "processed" and row.get("id") is not None:
                    found += _record_processed(credential_id, row)
    except UisError as error:
        _record_error(credential_id, account_id, STREAM_OFFLINE_PROCESSED, error)
        return found
    _advance(credential_id, STREAM_OFFLINE_PROCESSED, now, zone)
    db.session.commit()
    return found
