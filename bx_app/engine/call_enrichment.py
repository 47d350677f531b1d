"""A call's data for a group of events: its get.calls_report row (one Data API call) and what its other stages did."""
from __future__ import annotations

import logging
from datetime import timedelta

from bx_app.engine.chat_enrichment import _client
from bx_app.extensions import db
from bx_app.models import Event
from bx_app.models.event import EventStatus
from bx_app.models.timeutil import to_local, zone_named
from bx_app.polling import account_now
from bx_app.uis.client import CALL_FIELDS, DataApiClient
from bx_app.uis.errors import UisError

log = logging.getLogger(__name__)

SEARCH_BACK = timedelta(days=3)
# The order of a call's stages: a later one waits while an earlier one is still on its way.
STAGE_RANK = {"started": 0, "finished": 1, "lost": 1, "record_ready": 2}
# An earlier stage skipped for one of these reasons: the call was not wanted, so neither is the rest of it.
NOT_WANTED = {"filtered_out", "repeat_contact", "first_contact", "no_contact_data", "no_responsible"}


def enrich_calls(credential_id: int, event_ids: list[int], client: DataApiClient | None = None) -> list[int]:
    """Store `_call` (the report row) in the payloads of calls that ended; the ids whose reading failed.

    One get.calls_report call for the group. A call still going on has no finished row yet; a polled row
    is already in the payload. A Data API failure of a call whose notification carries what the engine
    needs (phone, duration) is not fatal: the id is handed back for a retry, then it goes on without.
    """
    events = [e for e in (db.session.get(Event, i) for i in event_ids) if e is not None and e.kind == "call"]
    wanted = [e for e in events if e.external_id.isdigit() and e.stage != "started"
              and not (e.payload or {}).get("_call")]
    if not wanted:
        return []
    ids = sorted({int(e.external_id) for e in wanted})
    oldest = min((e.occurred_at or e.created_at) for e in wanted)
    db.session.commit()  # nothing held open across the Data API call
    client = client or _client(credential_id)
    if client is None:
        return []
    try:
        now = account_now(client.timezone)
        oldest = to_local(oldest, zone_named(client.timezone))
        rows = {int(row["id"]): row for row in client.get_calls(
            min(oldest, now) - SEARCH_BACK, now + timedelta(minutes=5), fields=CALL_FIELDS,
            filter={"field": "id", "operator": "in", "value": ids})}
    except UisError as exc:
        log.warning("could not read calls %s from the Data API: %s", ids, exc)
        return [e.id for e in wanted]
    for event in wanted:
        row = rows.get(int(event.external_id))
        if row is not None:
            payload = dict(event.payload or {})
            payload["_call"] = row
            Event.query.filter_by(id=event.id).update({"payload": payload})
    db.session.commit()
    return []


def call_states(credential_id: int, events: list[Event]) -> dict[int, dict]:
    """For each call event, what the call's other stages did: its CALL_ID and user, finished, record attached,
    and whether an earlier stage is still pending ("wait") or skipped it as not wanted ("not_wanted")."""
    external_ids = sorted({e.external_id for e in events if e.kind == "call"})
    if not external_ids:
        return {}
    siblings: dict[str, list[Event]] = {}
    for row in Event.query.filter(Event.credential_id == credential_id, Event.kind == "call",
                                  Event.external_id.in_(external_ids)):
        siblings.setdefault(row.external_id, []).append(row)
    states = {}
    for event in events:
        if event.kind != "call":
            continue
        state: dict = {"call_id": None, "user_id": None, "finished": False, "record_url": None}
        rank = STAGE_RANK.get(event.stage, 0)
        for other in siblings.get(event.external_id, []):
            if other.id == event.id:
                continue
            result = other.result or {}
            written = result.get("written") or {}
            plan = result.get("plan") or {}
            if written.get("register"):
                state["call_id"] = written["register"]
                state["user_id"] = plan.get("user_id") or plan.get("responsible_id")
            elif plan.get("call_id"):
                state["call_id"] = state["call_id"] or plan["call_id"]
                state["user_id"] = state["user_id"] or plan.get("user_id")
            if written.get("finish"):
                state["finished"] = True
            if written.get("record") and plan.get("record_url"):
                state["record_url"] = plan["record_url"]
            earlier = STAGE_RANK.get(other.stage, 0) < rank
            if earlier and other.status in (EventStatus.NEW, EventStatus.PROCESSING) and not written.get("register"):
                state["wait"] = other.stage
            if earlier and other.status == EventStatus.SKIPPED and other.reason in NOT_WANTED:
                state["not_wanted"] = other.stage
        states[event.id] = state
    return states
