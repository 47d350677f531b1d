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


def enrich_offline_message(event_id: int, client: DataApiClient | None = None) -> bool:
    """Fill a pushed offline request's form, page, campaign and UTM data from get.offline_messages_report.

    Returns True when the payload changed. A Data API failure is logged and leaves the payload as it
    was: the request is still processed with what the notification carried (never lost for want of
    extra data).
    """
    event = db.session.get(Event, event_id)
    if event is None or event.kind != "offline_message" or (event.payload or {}).get("_enriched"):
        return False
    credential = db.session.get(Credential, event.credential_id)
    account = credential.uis_account if credential else None
    if account is None or not account.data_api_token or not event.external_id.isdigit():
        return False
    token, timezone = account.data_api_token, account.timezone
    # The Data API's windows are wall-clock times of the account's zone; the row stores UTC.
    around = (to_local(event.occurred_at, zone_named(timezone))
              or parse_uis_time((event.payload or {}).get("notification_time")))
    payload = dict(event.payload or {})
    db.session.commit()  # nothing held open across the Data API call
    if client is None:
        client = DataApiClient(current_app.config["UIS_DATA_API_URL"], token, timezone=timezone, max_retries=1)
    try:
        if around is None:
            around = account_now(timezone)
        rows = client.get_offline_messages(around - SEARCH_WINDOW, around + SEARCH_WINDOW, filter={
            "field": "id", "operator": "=", "value": int(event.external_id)})
    except (UisError, ValueError) as exc:
        log.warning("could not enrich offline request %s: %s", event.external_id, exc)
        return False
    row = next((r for r in rows if str(r.get("id")) == event.external_id), None)
    if row is None:
        return False
    merged = merge_missing(payload, row)
    merged["_enriched"] = True
    Event.query.filter_by(id=event_id).update({"payload": merged})
    db.session.commit()
    return True
