"""Planning: what one event should become in Bitrix24, as batch commands; pure, no I/O."""
from __future__ import annotations

import html
from dataclasses import dataclass, field
from datetime import datetime

from bx_app.integration.contact_data import (
    email_multifield,
    normalise_email,
    normalise_phone,
    phone_multifield,
)

ORIGINATOR_ID = "uis"
CRM_MODE_CLASSIC = 1
CRM_MODE_SIMPLE = 2
COMMENTS_LIMIT = 60_000

_UTM_KEYS = ("utm_source", "utm_medium", "utm_campaign", "utm_content", "utm_term")

_WORDS = {
    "ru": {
        "offline_title": "Офлайн заявка",
        "from_site": "с сайта",
        "request_text": "Текст заявки",
        "form": "Форма",
        "site": "Сайт",
        "page": "Страница",
        "campaign": "Рекламная кампания",
        "search": "Поиск",
        "request": "Заявка UIS",
        "received": "получена",
        "no_name": "Посетитель",
    },
    "en": {
        "offline_title": "Offline request",
        "from_site": "from",
        "request_text": "Request",
        "form": "Form",
        "site": "Site",
        "page": "Page",
        "campaign": "Ad campaign",
        "search": "Search",
        "request": "UIS request",
        "received": "received",
        "no_name": "Visitor",
    },
}


@dataclass(frozen=True)
class EventFacts:
    """The parts of a journal row the planner reads."""

    id: int
    kind: str
    stage: str
    external_id: str
    payload: dict
    occurred_at: datetime | None = None


@dataclass(frozen=True)
class Lookup:
    """What Bitrix24 already knows, read in one batch before planning."""

    crm_mode: int = CRM_MODE_CLASSIC
    existing: dict = field(default_factory=dict)  # {"lead": id} / {"deal": id} / {"contact": id} by ORIGIN_ID
    fallback_responsible_id: int | None = None


@dataclass
class Plan:
    action: str  # create / skip / exists
    reason: str | None = None
    entity: str | None = None  # lead / deal
    commands: dict[str, tuple[str, dict]] = field(default_factory=dict)
    summary: dict = field(default_factory=dict)


def origin_id(kind: str, external_id: str) -> str:
    """The ORIGIN_ID of whatever one UIS communication creates: the same on every retry and every stage."""
    return f"{kind}:{external_id}"


def _words(lang: str) -> dict:
    return _WORDS.get(lang, _WORDS["en"] if lang != "ru" else _WORDS["ru"])


def _text(value) -> str:
    return "" if value is None else str(value).strip()


def offline_request_comments(payload: dict, external_id: str, occurred_at: datetime | None, lang: str) -> str:
    """The request's content (O7) for the entity's comments: text, form, site, page, campaign, UTM."""
    w = _words(lang)
    rows: list[tuple[str, str]] = []
    text = _text(payload.get("text") or payload.get("visitor_message"))
    if text:
        rows.append((w["request_text"], text))
    if _text(payload.get("form_name")) or _text(payload.get("form_type")):
        rows.append((w["form"], " · ".join(p for p in (_text(payload.get("form_name")),
                                                        _text(payload.get("form_type"))) if p)))
    if _text(payload.get("site_domain_name")):
        rows.append((w["site"], _text(payload.get("site_domain_name"))))
    if _text(payload.get("communication_page_url")):
        rows.append((w["page"], _text(payload.get("communication_page_url"))))
    if _text(payload.get("campaign_name")):
        rows.append((w["campaign"], _text(payload.get("campaign_name"))))
    utm = [f"{k}={_text(payload.get(k))}" for k in _UTM_KEYS if _text(payload.get(k))]
    if utm:
        rows.append(("UTM", ", ".join(utm)))
    search = " · ".join(p for p in (_text(payload.get("search_engine")), _text(payload.get("search_query"))) if p)
    if search:
        rows.append((w["search"], search))
    stamp = f" {w['received']} {occurred_at:%Y-%m-%d %H:%M}" if occurred_at else ""
    rows.append((w["request"], f"№{external_id}{stamp}"))
    body = "<br>".join(f"<b>{html.escape(label)}:</b> {html.escape(value).replace(chr(10), '<br>')}"
                       for label, value in rows)
    if len(body) > COMMENTS_LIMIT:
        body = body[: COMMENTS_LIMIT - 40] + "<br>… (truncated)"
    return body


def _responsible(settings: dict, channel: str, lookup: Lookup) -> int | None:
    main = settings.get("main") or {}
    channel_settings = settings.get(channel) or {}
    for candidate in (channel_settings.get("default_responsible_id"), main.get("default_responsible_id"),
                      lookup.fallback_responsible_id):
        if candidate:
            return int(candidate)
    return None


def _source_id(settings: dict, channel: str) -> str:
    main = settings.get("main") or {}
    sources = main.get("lead_source") or {}
    return sources.get(channel) or ("WEBFORM" if channel == "offline" else "OTHER")


def plan_offline_request(event: EventFacts, settings: dict, lookup: Lookup, lang: str = "ru") -> Plan:
    """An offline (web-form) request → a lead, or a contact + deal in simple CRM mode."""
    if lookup.existing.get("lead") or lookup.existing.get("deal"):
        return Plan(action="exists", reason="already created", summary={"existing": dict(lookup.existing)})
    payload = event.payload or {}
    w = _words(lang)
    name = _text(payload.get("visitor_name"))
    phone = normalise_phone(payload.get("visitor_phone_number"))
    email = normalise_email(payload.get("visitor_email"))
    site = _text(payload.get("site_domain_name"))
    title = f"{w['offline_title']} {w['from_site']} {site}" if site else w["offline_title"]
    if name:
        title = f"{title}: {name}"
    responsible = _responsible(settings, "offline", lookup)
    origin = origin_id(event.kind, event.external_id)
    common = {
        "SOURCE_ID": _source_id(settings, "offline"),
        "SOURCE_DESCRIPTION": f"UIS: {w['offline_title'].lower()} №{event.external_id}",
        "COMMENTS": offline_request_comments(payload, event.external_id, event.occurred_at, lang),
        "ORIGINATOR_ID": ORIGINATOR_ID,
        "ORIGIN_ID": origin,
    }
    for key in _UTM_KEYS:
        if _text(payload.get(key)):
            common[key.upper()] = _text(payload.get(key))
    if responsible:
        common["ASSIGNED_BY_ID"] = responsible
    commands: dict[str, tuple[str, dict]] = {}
    if lookup.crm_mode == CRM_MODE_SIMPLE:
        entity = "deal"
        deal_fields = {"TITLE": title[:255], "CATEGORY_ID": int((settings.get("main") or {}).get("deal_category_id")
                                                                 or 0), **common}
        if lookup.existing.get("contact"):
            deal_fields["CONTACT_ID"] = lookup.existing["contact"]
        elif name or phone or email:
            contact = {"NAME": name or w["no_name"], "PHONE": phone_multifield(phone),
                       "EMAIL": email_multifield(email), "SOURCE_ID": common["SOURCE_ID"],
                       "ORIGINATOR_ID": ORIGINATOR_ID, "ORIGIN_ID": origin}
            if responsible:
                contact["ASSIGNED_BY_ID"] = responsible
            commands["contact"] = ("crm.contact.add", {"fields": contact})
            deal_fields["CONTACT_ID"] = "$result[contact]"
        commands["deal"] = ("crm.deal.add", {"fields": deal_fields, "params": {"REGISTER_SONET_EVENT": "Y"}})
    else:
        entity = "lead"
        lead_fields = {"TITLE": title[:255], "NAME": name, "PHONE": phone_multifield(phone),
                       "EMAIL": email_multifield(email), "OPENED": "Y", **common}
        commands["lead"] = ("crm.lead.add", {"fields": lead_fields, "params": {"REGISTER_SONET_EVENT": "Y"}})
    return Plan(action="create", entity=entity, commands=commands, summary={
        "entity": entity, "title": title[:255], "responsible_id": responsible, "phone": phone, "email": email,
        "source_id": common["SOURCE_ID"], "origin_id": origin,
    })


def plan_event(event: EventFacts, settings: dict, lookup: Lookup, lang: str = "ru") -> Plan:
    """Route an event to its channel's planner; anything else is skipped with the reason."""
    main = settings.get("main") or {}
    if not main.get("active"):
        return Plan(action="skip", reason="main_inactive")
    if event.kind == "offline_message":
        if not (settings.get("offline") or {}).get("active", True):
            return Plan(action="skip", reason="channel_inactive")
        if event.stage != "arrived":
            return Plan(action="skip", reason="wrong_stage")
        return plan_offline_request(event, settings, lookup, lang)
    return Plan(action="skip", reason="kind_not_supported")
