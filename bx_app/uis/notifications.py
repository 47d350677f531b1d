"""UIS HTTP notifications: parse a delivered payload into a typed event; the templates users paste into UIS."""
from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from bx_app import channels

# event mnemonic → (kind, stage)
EVENTS: dict[str, tuple[str, str]] = {mnemonic: (c.kind, stage) for c in channels.CHANNELS
                                      for mnemonic, stage in c.notifications.items()}
_INFERRED_EVENT = {kind_stage: mnemonic for mnemonic, kind_stage in reversed(EVENTS.items())}
# Tag events carry whichever communication was tagged; the kind comes from the id present.
TAG_EVENTS = {"set_mark": "tag_set", "unset_mark": "tag_removed"}

ID_FIELD = {c.kind: c.id_field for c in channels.CHANNELS}
EVENT_KEYS = ("event", "event_mnemonic", "notification_mnemonic")

# Variables of UIS's default HTTP templates per event (reference §10); only these are sure to render.
TEMPLATE_VARIABLES: dict[str, list[str]] = {
    "offline_message": [
        "notification_name", "notification_time", "offline_message_id", "communication_id",
        "visitor_name", "visitor_phone_number", "visitor_email", "visitor_message", "visitor_id", "session_id",
        "site_domain_name", "campaign_id", "campaign_name", "search_engine", "search_query",
    ],
    "chat_finished": [
        "notification_name", "notification_time", "chat_id", "communication_id", "status", "messages",
        "employee_full_name", "visitor_name", "visitor_id", "session_id", "site_domain_name", "campaign_id",
        "campaign_name", "search_engine", "search_query", "ua_client_id", "utm_source", "utm_medium",
        "utm_campaign", "utm_term", "utm_content", "tag_ids",
    ],
    "lost_chat": [
        "notification_name", "notification_time", "chat_id", "communication_id", "messages",
        "employee_full_name", "visitor_name", "visitor_id", "session_id", "site_domain_name", "campaign_id",
        "campaign_name", "search_engine", "search_query", "ua_client_id", "utm_source", "utm_medium",
        "utm_campaign", "utm_term", "utm_content", "tag_ids",
    ],
    "call_session_finished": [
        "notification_name", "notification_time", "call_session_id", "external_id", "direction", "call_source",
        "virtual_phone_number", "contact_phone_number", "communication_number", "employee_id",
        "employee_full_name", "scenario_name", "talk_time_duration", "total_time_duration",
        "wait_time_duration", "tag_names",
    ],
    "in_call_session": [
        "notification_name", "notification_time", "call_session_id", "virtual_phone_number", "scenario_name",
        "contact_phone_number", "communication_number", "contact_id", "contact_full_name",
    ],
    "out_call_session": [
        "notification_name", "notification_time", "call_session_id", "virtual_phone_number", "contact_phone_number",
        "contact_id", "contact_full_name", "employee_id", "employee_full_name", "employee_phone_number",
    ],
    "lost_call_session": [
        "notification_name", "notification_time", "call_session_id", "virtual_phone_number", "scenario_name",
        "contact_phone_number", "communication_number", "contact_id", "contact_full_name", "wait_time_duration",
        "employee_ids",
    ],
    "talk_record_file": [
        "notification_name", "notification_time", "call_session_id", "external_id", "direction", "call_source",
        "virtual_phone_number", "scenario_name", "contact_phone_number", "communication_number",
        "contact_full_name", "employee_id", "employee_full_name", "file_link", "file_duration",
    ],
}

_INTEGER_FIELDS = {
    "offline_message_id", "chat_id", "call_session_id", "communication_id", "communication_number",
    "visitor_id", "session_id", "campaign_id", "employee_id", "contact_id", "messages", "tag_id",
    "talk_time_duration", "total_time_duration", "wait_time_duration", "file_duration", "call_record_duration",
    "visitor_session_id", "site_id",
}
_LIST_FIELDS = {"tag_ids", "tag_names", "employee_ids", "leg_ids"}
_TEXT_FIELDS = {"visitor_phone_number", "contact_phone_number", "virtual_phone_number"}
_NULL_TEXTS = {"", "null", "none", "undefined"}
_INTEGER_TEXT = re.compile(r"^[+-]?\d+$")
# get.chats_report statuses of a closed chat: lost = no operator reached the visitor.
_LOST_CHAT_STATUSES = {"lost"}
_FINISHED_CHAT_STATUSES = {"succeed", "refused"}
# Words of the cabinet's event names ("Потеряный чат", "Завершение чата") and of names people give them.
_LOST_NAME_WORDS = ("потер", "пропущ", "lost", "missed")
_FINISHED_NAME_WORDS = ("заверш", "закончен", "закрыт", "finish", "ended", "closed")
# Set on a chat notification whose outcome the body did not say; the chat report decides it later.
STAGE_UNSURE = "_stage_unsure"


class NotificationInvalid(ValueError):
    """The payload is not a notification we can process; `reason` says why, in plain words."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclass
class UisNotification:
    kind: str  # offline_message | chat | call
    stage: str  # arrived | finished | lost | unanswered | started | record_ready | tag_set | tag_removed
    external_id: str  # offline_message_id / chat_id / call_session_id, as text
    occurred_at: datetime | None  # notification_time: naive = the account's wall clock; aware when UIS said so
    fields: dict = field(default_factory=dict)
    event: str | None = None  # the UIS event mnemonic when known

    @property
    def dedupe_key(self) -> str:
        """The same notification delivered twice gives the same key."""
        return f"{self.kind}:{self.stage}:{self.external_id}"


def flatten_payload(payload: Mapping) -> dict:
    """Lift nested objects of the default templates (visitor, visitor_info, contact_info...) to the top.

    Top-level values win over nested ones with the same name, so a user's flat template is never
    overridden by a leftover nested block.
    """
    flat: dict = {}
    nested: list[Mapping] = []
    for key, value in payload.items():
        if isinstance(value, list | tuple) and len(value) == 1 and not isinstance(value[0], Mapping) \
                and key not in _LIST_FIELDS:
            value = value[0]  # parse_qs-style lists of one value
        if isinstance(value, Mapping):
            nested.append(value)
        else:
            flat[str(key)] = value
    for block in nested:
        for key, value in flatten_payload(block).items():
            if flat.get(key) is None:
                flat[key] = value
    return flat


def merge_sources(*sources: Mapping | None) -> dict:
    """Join a JSON body, a form body and a query string; earlier sources win on the same key."""
    merged: dict = {}
    for source in sources:
        if not source:
            continue
        items = source.to_dict().items() if hasattr(source, "to_dict") else source.items()
        for key, value in items:
            merged.setdefault(key, value)
    return merged


def parse_notification(payload: Mapping | str | bytes) -> UisNotification:
    """A delivered notification (JSON body, form or query values; nested or flat) → UisNotification."""
    if isinstance(payload, bytes | str):
        try:
            payload = json.loads(payload)
        except ValueError as exc:
            raise NotificationInvalid("the body is not JSON") from exc
    if not isinstance(payload, Mapping):
        raise NotificationInvalid("the payload is not an object of named values")
    flat = flatten_payload(payload)
    flat.pop(STAGE_UNSURE, None)  # ours to set, never the sender's
    if not flat:
        raise NotificationInvalid("the payload is empty")
    flat = _unglue(flat)
    fields = {key: _normalise(key, value) for key, value in flat.items()}
    for key in _INTEGER_FIELDS - set(ID_FIELD.values()) - {"messages"}:  # no garbage in an integer field
        if key in fields and (isinstance(fields[key], bool) or not isinstance(fields[key], int | None)):
            fields[key] = None
    event = _event_mnemonic(fields)
    kind, stage = _kind_and_stage(event, fields)
    id_field = ID_FIELD[kind]
    raw_id = flat.get(id_field)
    if _is_null(raw_id):
        raise NotificationInvalid(f"{id_field} is missing")
    if isinstance(fields.get(id_field), bool) or not isinstance(fields.get(id_field), int):
        raise NotificationInvalid(f"{id_field} is not an integer: {raw_id!r}")
    if kind == "offline_message" and fields.get("text") is None:
        fields["text"] = fields.get("visitor_message")
    if kind == "offline_message" and fields.get("visitor_message") is None:
        fields["visitor_message"] = fields.get("text")
    fields.pop("event", None)
    if kind == "chat" and event is None and stage in ("finished", "lost") and \
            not stage_from_chat_status(fields.get("status")):
        fields[STAGE_UNSURE] = True  # only the notification's name (or nothing) said it: the chat report decides
    if kind == "call" and fields.get("direction") not in ("in", "out"):
        direction = _call_direction(event, fields)
        if direction:
            fields["direction"] = direction
    if event is None:
        event = _INFERRED_EVENT.get((kind, stage))
        if event == "in_call_session" and fields.get("direction") == "out":
            event = "out_call_session"
    return UisNotification(kind=kind, stage=stage, external_id=str(fields[id_field]),
                           occurred_at=_occurred_at(fields), fields=fields, event=event)


# A GET template whose '&' is missing glues the next variable onto a number: "2employee_full_name=Иванов".
_GLUED = re.compile(r"^([+-]?\d+)([a-z][a-z_]*)=(.*)$", re.S)


def _unglue(flat: dict) -> dict:
    """Split a value glued to the next variable by a missing '&' (UIS's own GET template for
    call_session_finished has this slip): the number stays, the glued variable is recovered unless the
    body carries it too."""
    out = dict(flat)
    for key, value in flat.items():
        if key in _INTEGER_FIELDS and isinstance(value, str):
            match = _GLUED.match(value.strip())
            if match:
                out[key] = match.group(1)
                if _is_null(out.get(match.group(2))):
                    out[match.group(2)] = match.group(3)
    return out


def _call_direction(event: str | None, fields: dict) -> str | None:
    """in/out of a call whose body does not say: the event names it; else UIS's default out_call_session
    body is the only start that names the employee (the caller) and no scenario."""
    if event == "out_call_session":
        return "out"
    if event == "in_call_session" or event == "lost_call_session":
        return "in"
    if event is None and fields.get("talk_time_duration") is None and fields.get("file_link") is None \
            and "wait_time_duration" not in fields and fields.get("scenario_name") is None \
            and any(fields.get(k) is not None for k in ("employee_id", "employee_full_name", "employee_phone_number")):
        return "out"
    if event is None and fields.get("scenario_name") is not None and fields.get("talk_time_duration") is None \
            and fields.get("file_link") is None:
        return "in"
    return None


def _event_mnemonic(fields: dict) -> str | None:
    for key in EVENT_KEYS:
        value = fields.get(key)
        if value is not None:
            mnemonic = str(value).strip().lower()
            if mnemonic not in EVENTS and mnemonic not in TAG_EVENTS:
                raise NotificationInvalid(f"unknown event {value!r}")
            return mnemonic
    return None


def _kind_and_stage(event: str | None, fields: dict) -> tuple[str, str]:
    if event in EVENTS:
        return EVENTS[event]
    kind = _kind_from_ids(fields)
    if event in TAG_EVENTS:
        if kind is None:
            raise NotificationInvalid(f"{event}: no offline_message_id, chat_id or call_session_id")
        return kind, TAG_EVENTS[event]
    if kind is None:
        raise NotificationInvalid("unknown event: no event name and no offline_message_id, chat_id or "
                                  "call_session_id")
    if kind == "offline_message":
        return kind, "arrived"
    if kind == "chat":
        return kind, _chat_closing_stage(fields) or "finished"
    if fields.get("file_link") is not None:
        return kind, "record_ready"
    if fields.get("talk_time_duration") is not None or fields.get("total_time_duration") is not None:
        return kind, "finished"
    if "employee_ids" in fields and "wait_time_duration" in fields:
        return kind, "lost"
    return kind, "started"


def _chat_closing_stage(fields: dict) -> str | None:
    """"lost" or "finished" from what a chat body without an event key carries; None when it cannot tell.

    Both events fire when a chat closes and an administrator may leave any field out of a template, so
    only a field that names the outcome decides: `status` (in UIS's default chat_finished template; the
    chat report's values), else the notification's name as the administrator typed it. Otherwise the
    chat's status in get.chats_report decides during enrichment (see `stage_from_chat_status`).
    """
    status = fields.get("status")
    if isinstance(status, str) and stage_from_chat_status(status):
        return stage_from_chat_status(status)
    name = fields.get("notification_name")
    if isinstance(name, str):
        words = name.lower()
        lost = any(word in words for word in _LOST_NAME_WORDS)
        finished = any(word in words for word in _FINISHED_NAME_WORDS)
        if lost != finished:
            return "lost" if lost else "finished"
    return None


def stage_from_chat_status(status: Any) -> str | None:
    """A closed chat's stage from its status (get.chats_report / the `status` variable); None if still open."""
    value = str(status or "").strip().lower()
    if value in _LOST_CHAT_STATUSES:
        return "lost"
    if value in _FINISHED_CHAT_STATUSES:
        return "finished"
    return None


def _kind_from_ids(fields: dict) -> str | None:
    for kind in ("offline_message", "chat", "call"):
        if not _is_null(fields.get(ID_FIELD[kind])):
            return kind
    for kind in ("offline_message", "chat", "call"):
        if ID_FIELD[kind] in fields:
            return kind  # present but empty: let the caller report "missing"
    return None


def _is_null(value: Any) -> bool:
    return value is None or (isinstance(value, str) and value.strip().lower() in _NULL_TEXTS)


def _normalise(key: str, value: Any) -> Any:
    if isinstance(value, str):
        value = value.strip()
        if value.lower() in _NULL_TEXTS:
            return None
    if value is None:
        return None
    if key in _LIST_FIELDS:
        return _as_list(value)
    if key in _INTEGER_FIELDS:
        return _as_integer(value)
    if key in _TEXT_FIELDS:
        return str(value)
    return value


def _as_integer(value: Any) -> int | Any:
    """An integer when the value is integer-like; otherwise the value unchanged (validation decides)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and _INTEGER_TEXT.match(value):
        return int(value)
    return value


def _as_list(value: Any) -> list:
    if isinstance(value, list | tuple):
        return [_as_integer(v) for v in value]
    if isinstance(value, str):
        if value.startswith("["):
            try:
                parsed = json.loads(value)
                if isinstance(parsed, list):
                    return [_as_integer(v) for v in parsed]
            except ValueError:
                pass
            value = value.strip("[]")
        return [_as_integer(part.strip().strip('"')) for part in value.split(",") if part.strip()]
    return [_as_integer(value)]


def _occurred_at(fields: dict) -> datetime | None:
    text = fields.get("notification_time")
    if isinstance(text, str):
        for pattern in ("%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S.%f", "%d.%m.%Y %H:%M:%S"):
            try:
                return datetime.strptime(text[:26], pattern)
            except ValueError:
                continue
        try:
            parsed = datetime.fromisoformat(text)
            # With an offset the instant is known (aware, UTC); without, it is the account's wall clock.
            return parsed.astimezone(UTC) if parsed.tzinfo is not None else parsed
        except ValueError:
            pass
    stamp = fields.get("notification_timestamp")
    if isinstance(stamp, int | float) or (isinstance(stamp, str) and _INTEGER_TEXT.match(stamp)):
        return datetime.fromtimestamp(int(stamp), UTC)
    return None


def default_template(event_mnemonic: str, method: str = "POST") -> str:
    """The HTTP template to paste into UIS → Уведомления for this event: flat, with an explicit event key.

    POST: JSON whose placeholders are unquoted, as UIS renders each value as a JSON literal.
    GET: a query string appended to the hook URL.
    """
    if event_mnemonic not in TEMPLATE_VARIABLES:
        raise ValueError(f"no template for event {event_mnemonic!r}")
    names = TEMPLATE_VARIABLES[event_mnemonic]
    if method.upper() == "GET":
        return "&".join([f"event={quote(event_mnemonic)}"] + [f"{name}={{{{{name}}}}}" for name in names])
    if method.upper() != "POST":
        raise ValueError("method is POST or GET")
    lines = [f'  "event": "{event_mnemonic}"'] + [f'  "{name}": {{{{{name}}}}}' for name in names]
    return "{\n" + ",\n".join(lines) + "\n}"


__all__ = ["EVENTS", "STAGE_UNSURE", "NotificationInvalid", "TEMPLATE_VARIABLES", "UisNotification", "default_template",
           "flatten_payload", "merge_sources", "parse_notification", "stage_from_chat_status"]
