"""A chat event's data from the UIS Data API, for a group of events at once: the chat row, messages, visitor."""
from __future__ import annotations

import logging
from datetime import timedelta

from flask import current_app

from bx_app.extensions import db
from bx_app.models import Credential, Event
from bx_app.models.timeutil import to_local, zone_named
from bx_app.polling import account_now
from bx_app.uis.client import DataApiClient
from bx_app.uis.errors import UisError
from bx_app.uis.notifications import STAGE_UNSURE, stage_from_chat_status

log = logging.getLogger(__name__)

SEARCH_BACK = timedelta(days=3)


def _client(credential_id: int) -> DataApiClient | None:
    credential = db.session.get(Credential, credential_id)
    account = credential.uis_account if credential else None
    if account is None or not account.data_api_token:
        return None
    return DataApiClient(current_app.config["UIS_DATA_API_URL"], account.data_api_token,
                         timezone=account.timezone, max_retries=1)


def enrich_chats(credential_id: int, event_ids: list[int], client: DataApiClient | None = None) -> list[int]:
    """Store `_chat`, `_messages`, `_visitor` in the payloads of chat events; the ids whose reading failed.

    Three Data API calls for the whole group (chats by id, their messages, their visitors). The messages
    are read again at every processing (a chat's transcript grows until it finishes); a chat row from
    polling is already in the payload and is not read again.
    """
    events = [e for e in (db.session.get(Event, i) for i in event_ids) if e is not None and e.kind == "chat"]
    wanted = [e for e in events if e.external_id.isdigit()]
    if not wanted:
        return []
    payloads = {e.id: dict(e.payload or {}) for e in wanted}
    chat_of = {e.id: int(e.external_id) for e in wanted}
    oldest = min((e.occurred_at or e.created_at) for e in wanted)
    db.session.commit()  # nothing held open across the Data API calls
    client = client or _client(credential_id)
    if client is None:
        return []
    try:
        need_rows = [chat_of[i] for i, p in payloads.items() if not p.get("_chat") and not p.get("chat_channel_id")]
        rows = {}
        if need_rows:
            # The Data API's windows are wall-clock times of the account's zone.
            now = account_now(client.timezone)
            oldest = to_local(oldest, zone_named(client.timezone))
            for row in client.get_chats(min(oldest, now) - SEARCH_BACK, now + timedelta(minutes=5), filter={
                    "field": "id", "operator": "in", "value": sorted(set(need_rows))}):
                rows[int(row["id"])] = row
        messages: dict[int, list] = {}
        for message in client.get_chat_messages(chat_ids=sorted(set(chat_of.values()))):
            messages.setdefault(int(message.get("chat_id") or 0), []).append(message)
        visitor_of = {}
        for event_id, payload in payloads.items():
            chat = rows.get(chat_of[event_id]) or payload.get("_chat") or payload
            info = payload.get("visitor_info") if isinstance(payload.get("visitor_info"), dict) else {}
            visitor_id = chat.get("visitor_id") or payload.get("visitor_id") or info.get("visitor_id")
            if visitor_id:
                visitor_of[event_id] = int(visitor_id)
        visitors = {}
        if visitor_of:
            for visitor in client.get_visitors(sorted(set(visitor_of.values()))):
                visitors[int(visitor["id"])] = visitor
    except UisError as exc:
        log.warning("could not read chats %s from the Data API: %s", sorted(chat_of.values()), exc)
        return [e.id for e in wanted]
    for event_id, payload in payloads.items():
        chat_id = chat_of[event_id]
        changes = {}
        if chat_id in rows:
            payload["_chat"] = rows[chat_id]
        elif not payload.get("_chat") and payload.get("chat_channel_id"):
            payload["_chat"] = {k: v for k, v in payload.items() if not k.startswith("_")}
        row = payload.get("_chat") if isinstance(payload.get("_chat"), dict) else {}
        stage = stage_from_chat_status(row.get("status"))
        if payload.get(STAGE_UNSURE) and stage:
            # The notification did not say lost or finished; the chat report's status does.
            payload.pop(STAGE_UNSURE)
            changes["stage"] = stage
        payload["_messages"] = messages.get(chat_id, [])
        if visitor_of.get(event_id) in visitors:
            payload["_visitor"] = visitors[visitor_of[event_id]]
        Event.query.filter_by(id=event_id).update({"payload": payload, **changes})
    db.session.commit()
    return []
