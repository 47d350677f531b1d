"""Enrich a pushed event from the UIS Data API: a notification carries a few fields, the report all of them."""
from __future__ import annotations

import logging
from datetime import timedelta

from flask import current_app

from bx_app.extensions import db
from bx_app.models import Credential, Event
from bx_app.models.timeutil import to_local, zone_named
from bx_app.polling import account_now
from bx_app.uis.client import DataApiClient, parse_uis_time
from bx_app.uis.errors import UisError

log = logging.getLogger(__name__)

# How far around the notification time the report is searched for the request.
SEARCH_WINDOW = timedelta(days=2)


def _missing(value) -> bool:
    return value in (None, "", [], {})


def merge_missing(payload: dict, extra: dict) -> dict:
    """What the push said stays; what only the report knows is added."""
    merged = dict(payload)
    for key, value in (extra or {}).items():
        if not _missing(value) and _missing(merged.get(key)):
            merged[key] = value
    return merged


def enrich_offline_messages(event_ids: list[int], client: DataApiClient | None = None) -> int:
    """Fill pushed offline requests' form, page, campaign and UTM data from get.offline_messages_report.

    One report call for the whole group (`id in [...]`, a window around all of their times): a burst
    costs the UIS account one point per group, not one per request (its budget is ~120 a minute). Returns
    how many payloads changed. A Data API failure or a spent budget is logged and leaves the payloads as
    they were, without waiting: the requests are processed with what the notifications carried (never lost,
    never held up, for want of extra data).
    """
    if not event_ids:
        return 0
    events = [e for e in Event.query.filter(Event.id.in_(event_ids)).order_by(Event.id)
              if e.kind == "offline_message" and not (e.payload or {}).get("_enriched") and e.external_id.isdigit()]
    if not events:
        return 0
    credential = db.session.get(Credential, events[0].credential_id)
    account = credential.uis_account if credential else None
    if account is None or not account.data_api_token:
        return 0
    token, timezone = account.data_api_token, account.timezone
    zone = zone_named(timezone)
    # The Data API's windows are wall-clock times of the account's zone; the rows store UTC.
    moments = [to_local(e.occurred_at, zone) or parse_uis_time((e.payload or {}).get("notification_time"))
               for e in events]
    known = [m for m in moments if m is not None]
    payloads = {e.id: (e.external_id, dict(e.payload or {})) for e in events}
    db.session.commit()  # nothing held open across the Data API call
    if client is None:
        client = DataApiClient(current_app.config["UIS_DATA_API_URL"], token, timezone=timezone, max_retries=1,
                               wait_for_limits=False)
    try:
        if len(known) < len(moments):
            known.append(account_now(timezone))
        ids = sorted({int(external) for external, _payload in payloads.values()})
        rows = client.get_offline_messages(
            min(known) - SEARCH_WINDOW, max(known) + SEARCH_WINDOW,
            filter={"field": "id", "operator": "=", "value": ids[0]} if len(ids) == 1
            else {"field": "id", "operator": "in", "value": ids})
    except (UisError, ValueError) as exc:
        log.warning("could not enrich %s offline requests: %s", len(events), exc)
        return 0
    by_id = {str(r.get("id")): r for r in rows}
    changed = 0
    for event_id, (external, payload) in payloads.items():
        row = by_id.get(external)
        if row is None:
            continue
        merged = merge_missing(payload, row)
        merged["_enriched"] = True
        Event.query.filter_by(id=event_id).update({"payload": merged})
        changed += 1
    db.session.commit()
    return changed
