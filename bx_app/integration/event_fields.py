"""The catalog of event fields that filters, title templates and field mapping use, and one event's facts."""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from bx_app import channels

# Field types and the operators that fit them.
STRING = "string"
NUMBER = "number"
ID = "id"
BOOL = "bool"
TAGS = "tags"

OPERATORS: dict[str, tuple[str, ...]] = {
    STRING: ("eq", "ne", "in", "not_in", "contains", "not_contains", "starts_with", "is_empty", "not_empty"),
    NUMBER: ("eq", "ne", "in", "not_in", "gt", "lt", "between", "is_empty", "not_empty"),
    ID: ("eq", "ne", "in", "not_in", "is_empty", "not_empty"),
    BOOL: ("eq",),
    TAGS: ("contains", "not_contains", "in", "not_in", "is_empty", "not_empty"),
}

OPERATOR_LABELS: dict[str, tuple[str, str]] = {
    "eq": ("равно", "equals"),
    "ne": ("не равно", "not equals"),
    "in": ("одно из списка", "in list"),
    "not_in": ("ни одно из списка", "not in list"),
    "contains": ("содержит", "contains"),
    "not_contains": ("не содержит", "does not contain"),
    "starts_with": ("начинается с", "starts with"),
    "is_empty": ("пусто", "is empty"),
    "not_empty": ("не пусто", "is not empty"),
    "between": ("между", "between"),
    "gt": ("больше", "greater than"),
    "lt": ("меньше", "less than"),
}
NO_VALUE = ("is_empty", "not_empty")
LIST_VALUE = ("in", "not_in")
RANGE_VALUE = ("between",)

CHANNELS = tuple(c.key for c in channels.CHANNELS)
KIND_CHANNEL = {c.kind: c.key for c in channels.CHANNELS}
_ALL = CHANNELS
_CHATS_OFFLINE = ("chats", "offline")


@dataclass(frozen=True)
class EventField:
    """One field of an event: how filters and templates name it, its type and who has it."""

    name: str
    label_ru: str
    label_en: str
    type: str
    channels: tuple[str, ...] = _ALL
    minimum: int | None = None
    maximum: int | None = None

    @property
    def operators(self) -> tuple[str, ...]:
        return OPERATORS[self.type]

    def label(self, lang: str = "ru") -> str:
        return self.label_en if lang == "en" else self.label_ru


_FIELDS = [
    EventField("channel_id", "Канал чата", "Chat channel", ID, ("chats",)),
    EventField("channel_type", "Тип канала чата (whatsapp, telegram, comagic…)",
               "Chat channel type (whatsapp, telegram, comagic…)", STRING, ("chats",)),
    EventField("channel_name", "Название канала чата", "Chat channel name", STRING, ("chats",)),
    EventField("site", "Сайт (домен)", "Site (domain)", STRING),
    EventField("site_id", "Сайт (ID в UIS)", "Site (UIS id)", ID),
    EventField("campaign", "Рекламная кампания", "Ad campaign", STRING),
    EventField("campaign_id", "Рекламная кампания (ID)", "Ad campaign (id)", ID),
    EventField("utm_source", "UTM source", "UTM source", STRING),
    EventField("utm_medium", "UTM medium", "UTM medium", STRING),
    EventField("utm_campaign", "UTM campaign", "UTM campaign", STRING),
    EventField("utm_content", "UTM content", "UTM content", STRING),
    EventField("utm_term", "UTM term", "UTM term", STRING),
    EventField("search_engine", "Поисковая система", "Search engine", STRING),
    EventField("search_query", "Поисковый запрос", "Search query", STRING),
    EventField("tags", "Теги", "Tags", TAGS),
    EventField("employee_id", "Сотрудник UIS", "UIS employee", ID),
    EventField("employee_name", "Сотрудник UIS (имя)", "UIS employee (name)", STRING),
    EventField("status", "Статус обращения", "Status", STRING),
    EventField("visitor_name", "Имя посетителя", "Visitor name", STRING),
    EventField("phone", "Телефон посетителя", "Visitor phone", STRING),
    EventField("email", "E-mail посетителя", "Visitor e-mail", STRING),
    EventField("has_phone", "Есть телефон", "Has a phone", BOOL),
    EventField("has_email", "Есть e-mail", "Has an e-mail", BOOL),
    EventField("visitor_country", "Страна посетителя", "Visitor country", STRING),
    EventField("visitor_region", "Регион посетителя", "Visitor region", STRING),
    EventField("visitor_city", "Город посетителя", "Visitor city", STRING),
    EventField("visitor_type", "Тип посетителя (Новый, Вернувшийся)", "Visitor type (new, returning)", STRING),
    EventField("communication_number", "Номер обращения посетителя", "Visitor's contact number", NUMBER),
    EventField("form_name", "Название формы", "Form name", STRING, ("offline",)),
    EventField("form_type", "Тип формы", "Form type", STRING, ("offline",)),
    EventField("page_url", "Страница обращения", "Page URL", STRING, _CHATS_OFFLINE),
    EventField("text", "Текст (заявки или сообщений)", "Text (request or messages)", STRING, _CHATS_OFFLINE),
    EventField("incoming", "Входящий звонок (нет — исходящий)", "Incoming call (no: outgoing)", BOOL, ("calls",)),
    EventField("virtual_number", "Виртуальный номер", "Virtual number", STRING, ("calls",)),
    EventField("scenario", "Сценарий", "Scenario", STRING, ("calls",)),
    EventField("answered", "Звонок отвечен", "Call answered", BOOL, ("calls",)),
    EventField("talk_duration", "Длительность разговора, с", "Talk time, s", NUMBER, ("calls",)),
    EventField("hour", "Час (время суток, 0–23)", "Hour of day (0–23)", NUMBER, minimum=0, maximum=23),
    EventField("weekday", "День недели (1 — пн … 7 — вс)", "Weekday (1 Mon … 7 Sun)", NUMBER,
               minimum=1, maximum=7),
]
FIELDS: dict[str, EventField] = {f.name: f for f in _FIELDS}


def catalog_for(channel: str) -> dict[str, EventField]:
    """The fields an event of this settings channel ("chats", "offline", "calls") has."""
    return {name: f for name, f in FIELDS.items() if channel in f.channels}


def _text(value) -> str | None:
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = str(value).strip()
    return text or None


def _int(value) -> int | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        return int(str(value).strip())
    except ValueError:
        return None


def _tags(payload: dict) -> list[str]:
    tags = payload.get("tags")
    names: list[str] = []
    if isinstance(tags, list):
        for tag in tags:
            name = _text(tag.get("tag_name")) if isinstance(tag, dict) else _text(tag)
            if name:
                names.append(name)
    if not names:
        raw = payload.get("tag_names")
        if isinstance(raw, list):
            names = [n for n in (_text(t) for t in raw) if n]
        elif _text(raw):
            names = [n.strip() for n in re.split(r"[,;]", str(raw)) if n.strip()]
    return list(dict.fromkeys(names))


def _first(payload: dict, *keys):
    for key in keys:
        value = _text(payload.get(key))
        if value is not None:
            return value
    return None


def _when(payload: dict, occurred_at: datetime | None) -> datetime | None:
    if occurred_at is not None:
        return occurred_at
    for key in ("date_time", "notification_time", "start_time"):
        raw = _text(payload.get(key))
        if raw:
            try:
                return datetime.fromisoformat(raw.replace("Z", "+00:00"))
            except ValueError:
                continue
    return None


def facts_from_event(kind: str, stage: str, payload: dict, occurred_at: datetime | None,
                     extra: dict | None = None) -> dict:
    """Every catalog field of one event as a flat dict (None when unknown), plus id/date/time for titles.

    `payload` is the journal row's payload (a notification, a report row, or both merged); `extra`
    (e.g. visitor contacts or a transcript fetched by the engine) overrides what the payload says.
    """
    payload = dict(payload or {})
    if extra:
        payload.update({k: v for k, v in extra.items() if v is not None})
    when = _when(payload, occurred_at)
    phone = _first(payload, "phone", "visitor_phone_number", "contact_phone_number")
    email = _first(payload, "email", "visitor_email")
    chat = kind == "chat"
    facts = {
        "kind": kind,
        "stage": stage,
        "channel": KIND_CHANNEL.get(kind),
        "id": _first(payload, "chat_id", "offline_message_id", "call_session_id", "id") if payload else None,
        "channel_id": _int(payload.get("chat_channel_id") or payload.get("channel_id")) if chat else None,
        "channel_type": _first(payload, "chat_channel_type", "channel_type") if chat else None,
        "channel_name": _first(payload, "chat_channel_name", "channel_name") if chat else None,
        "site": _first(payload, "site_domain_name", "site"),
        "site_id": _int(payload.get("site_id")),
        "campaign": _first(payload, "campaign_name", "campaign"),
        "campaign_id": _int(payload.get("campaign_id")),
        "search_engine": _first(payload, "search_engine"),
        "search_query": _first(payload, "search_query"),
        "tags": _tags(payload),
        "employee_id": _int(payload.get("employee_id")),
        "employee_name": _first(payload, "employee_full_name", "employee_name"),
        "status": _first(payload, "status"),
        "visitor_name": _first(payload, "visitor_name", "contact_full_name"),
        "phone": phone,
        "email": email,
        "has_phone": phone is not None,
        "has_email": email is not None,
        "visitor_country": _first(payload, "visitor_country"),
        "visitor_region": _first(payload, "visitor_region"),
        "visitor_city": _first(payload, "visitor_city"),
        "visitor_type": _first(payload, "visitor_type"),
        "communication_number": _int(payload.get("communication_number")),
        "form_name": _first(payload, "form_name") if kind == "offline_message" else None,
        "form_type": _first(payload, "form_type") if kind == "offline_message" else None,
        "page_url": _first(payload, "communication_page_url", "page_url"),
        "text": _first(payload, "text", "visitor_message", "transcript"),
        "hour": when.hour if when else None,
        "weekday": when.isoweekday() if when else None,
        "date": when.strftime("%d.%m.%Y") if when else None,
        "time": when.strftime("%H:%M") if when else None,
    }
    for key in ("utm_source", "utm_medium", "utm_campaign", "utm_content", "utm_term"):
        facts[key] = _first(payload, key)
    if kind == "call":
        facts.update(call_facts(stage, payload))
    else:
        facts.update({name: None for name in ("direction", "incoming", "virtual_number", "scenario", "answered",
                                              "talk_duration")})
    return facts


def call_facts(stage: str, payload: dict) -> dict:
    """A call's own fields from its notification and (when read) its get.calls_report row."""
    talk = _int(payload.get("talk_time_duration"))
    if talk is None:
        talk = _int(payload.get("talk_duration"))
    lost = payload.get("is_lost")
    if stage == "lost" or lost is True:
        answered = False
    elif stage in ("finished", "record_ready") or lost is False:
        answered = bool(talk) if lost is None else not lost
    else:
        answered = None
    employee = _int(payload.get("employee_id")) or _int(payload.get("last_answered_employee_id")) \
        or _int(payload.get("last_talked_employee_id"))
    direction = _first(payload, "direction")
    return {"direction": direction if direction in ("in", "out") else None,
            "incoming": {"in": True, "out": False}.get(direction or ""),
            "virtual_number": _first(payload, "virtual_phone_number"), "scenario": _first(payload, "scenario_name"),
            "answered": answered, "talk_duration": talk, "employee_id": employee,
            "employee_name": _first(payload, "employee_full_name", "last_answered_employee_full_name")}
