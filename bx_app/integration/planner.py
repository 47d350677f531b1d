"""Planning: what one event should become in Bitrix24, as batch commands; pure, no I/O."""
from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from bx_app import channels
from bx_app.integration import transcript
from bx_app.integration.contact_data import (
    email_multifield,
    normalise_email,
    normalise_phone,
    phone_multifield,
)
from bx_app.integration.event_fields import facts_from_event
from bx_app.integration.field_mapping import apply_rows
from bx_app.integration.filters import evaluate
from bx_app.integration.responsible import pick_responsible
from bx_app.integration.titles import render_title

ORIGINATOR_ID = "uis"
CRM_MODE_CLASSIC = 1
CRM_MODE_SIMPLE = 2
COMMENTS_LIMIT = transcript.COMMENTS_LIMIT
OWNER_TYPE = {"lead": 1, "deal": 2, "contact": 3}
ACTIVITY_TYPE_MEETING = 1  # a plain "дело" the responsible sees in the entity's timeline

# Read from the channel registry: the settings key per event kind, the stages each create-on choice takes.
CHANNEL_OF_KIND = {c.kind: c.key for c in channels.CHANNELS}
STAGES = {c.key: {choice: set(stages) for choice, stages in c.create_on.items()} for c in channels.CHANNELS}
KNOWN_STAGES = {c.kind: set(c.stages) for c in channels.CHANNELS}

_UTM_KEYS = ("utm_source", "utm_medium", "utm_campaign", "utm_content", "utm_term")
# "$result[lead]", and "$result[register][CALL_ID]" (resumed: the CALL_ID an earlier attempt recorded).
_REF_RE = re.compile(r"\$result\[([A-Za-z_][A-Za-z0-9_\-]*)\](?:\[CALL_ID\])?")

_WORDS = {
    "ru": {
        "from_site": "с сайта",
        "request_text": "Текст заявки", "form": "Форма", "site": "Сайт", "page": "Страница",
        "campaign": "Рекламная кампания", "search": "Поиск", "request": "Заявка UIS", "received": "получена",
        "no_name": "Посетитель", "chat": "Чат UIS", "channel": "Канал", "transcript": "Переписка",
        "new": {"lead": "Новый лид", "deal": "Новая сделка", "contact": "Новый контакт", "activity": "Новое дело"},
        "attached": "Новое обращение по", "entity": {"lead": "лиду", "deal": "сделке", "contact": "контакту"},
    },
    "en": {
        "from_site": "from",
        "request_text": "Request", "form": "Form", "site": "Site", "page": "Page", "campaign": "Ad campaign",
        "search": "Search", "request": "UIS request", "received": "received", "no_name": "Visitor",
        "chat": "UIS chat", "channel": "Channel", "transcript": "Transcript",
        "new": {"lead": "New lead", "deal": "New deal", "contact": "New contact", "activity": "New activity"},
        "attached": "New communication on", "entity": {"lead": "lead", "deal": "deal", "contact": "contact"},
    },
}


def b24_time(moment: datetime) -> str:
    """ISO-8601 with an explicit offset, as Bitrix24 reads times; a time without a zone is UTC."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.isoformat(timespec="seconds")


@dataclass(frozen=True)
class EventFacts:
    """The parts of a journal row the planner reads; `extra` holds what enrichment added (chat, visitor, messages)."""

    id: int
    kind: str
    stage: str
    external_id: str
    payload: dict
    occurred_at: datetime | None = None
    extra: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Lookup:
    """What Bitrix24 (one lookup batch) and the synced reference data say, read before planning."""

    crm_mode: int = CRM_MODE_CLASSIC
    existing: dict = field(default_factory=dict)   # by ORIGIN_ID: {"lead"|"deal"|"contact"|"activity": id}
    duplicates: dict = field(default_factory=dict)  # crm.duplicate.findbycomm hits: {"LEAD": [ids], "CONTACT": [ids]}
    open_entity: dict | None = None  # repeat contact's open lead/deal: {"type", "id", "responsible_id"}
    written: dict | None = None      # parts an earlier attempt wrote and recorded: {"lead": id, "notify": 1, ...}
    fallback_responsible_id: int | None = None   # the installer
    employee_user_id: int | None = None          # Bitrix24 user matched to the UIS employee
    active_user_ids: frozenset | None = None     # None: not synced yet (no check)
    b24_fields: dict = field(default_factory=dict)  # {"lead": {...}, "deal": {...}, "contact": {...}}
    portal_url: str = ""
    start_entity: dict | None = None  # a chat created at start: {"type", "id"} its finish comments on
    comments: list | None = None      # that entity's timeline comments (the transcript's marker is looked for)


@dataclass
class Plan:
    action: str  # create / attach / skip / exists
    reason: str | None = None
    entity: str | None = None  # lead / deal / contact (the entity the communication lives in)
    commands: dict[str, tuple[str, dict]] = field(default_factory=dict)
    summary: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Needs:
    """What the lookup batch must read for one event (pure: from the event and the settings)."""

    origin: str
    phone: str | None
    email: str | None
    duplicates: bool     # first/repeat matters (C4/O3, repeat_action attach, reuse of a contact)
    open_entity: bool    # repeat_action "attach": find the open lead/deal
    activity: bool       # the plan may add an activity (its ORIGIN_ID is checked)


def origin_id(kind: str, external_id: str) -> str:
    """The ORIGIN_ID of whatever one UIS communication creates: the same on every retry and every stage."""
    return f"{kind}:{external_id}"


def notify_tag(origin: str) -> str:
    """One notification per communication: Bitrix24 replaces a notice with the same TAG, never adds a second."""
    return f"UIS|{origin}"


def final_transcript_wanted(event: EventFacts, settings: dict) -> bool:
    """C6 "on start": the chat's finish adds its whole transcript to what the start created (C9)."""
    options = settings.get(CHANNEL_OF_KIND.get(event.kind, ""), {}) or {}
    return (event.kind == "chat" and options.get("create_on") == "start"
            and event.stage in STAGES["chats"]["finish"])


def transcript_marker(event: EventFacts) -> str:
    """The last line of the final transcript comment: a retry finds it and never adds a second one."""
    return f"[{origin_id(event.kind, event.external_id)}:transcript]"


def _words(lang: str) -> dict:
    return _WORDS["ru" if lang == "ru" else "en"]


def _text(value) -> str:
    return "" if value is None else str(value).strip()


# --- what the event says -----------------------------------------------------------------------
def contact_of(event: EventFacts) -> dict:
    """The visitor's name, phone (E.164) and e-mail from the event and its enrichment (chat row, visitor)."""
    payload, extra = event.payload or {}, event.extra or {}
    chat = extra.get("chat") or {}
    visitor = extra.get("visitor") or {}
    info = payload.get("visitor_info") if isinstance(payload.get("visitor_info"), dict) else {}
    call = extra.get("call") or {}
    name = next((_text(v) for v in (payload.get("visitor_name"), info.get("visitor_name"), visitor.get("name"),
                                    chat.get("visitor_name"), payload.get("contact_full_name"),
                                    call.get("contact_full_name")) if _text(v)), "")
    phones = [payload.get("visitor_phone_number"), chat.get("visitor_phone_number"), *(visitor.get("phones") or []),
              payload.get("contact_phone_number"), call.get("contact_phone_number")]
    emails = [payload.get("visitor_email"), chat.get("visitor_email"), *(visitor.get("emails") or [])]
    phone = next((p for p in (normalise_phone(v) for v in phones) if p), None)
    email = next((e for e in (normalise_email(v) for v in emails) if e), None)
    return {"name": name, "phone": phone, "email": email}


def facts_of(event: EventFacts) -> dict:
    """The flat facts filters, titles, responsible rules and field maps read (enrichment overrides the payload)."""
    extra = event.extra or {}
    contact = contact_of(event)
    flat = {**(extra.get("call") or {}), **(extra.get("chat") or {}), "visitor_name": contact["name"] or None,
            "phone": contact["phone"], "email": contact["email"]}
    return facts_from_event(event.kind, event.stage, event.payload or {}, event.occurred_at, flat)


def offline_request_comments(payload: dict, external_id: str, occurred_at: datetime | None, lang: str,
                             as_html: bool = True) -> str:
    """The request's content (O7): text, form, site, page, campaign, UTM."""
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
    if as_html:
        body = "<br>".join(f"<b>{html.escape(label)}:</b> {html.escape(value).replace(chr(10), '<br>')}"
                           for label, value in rows)
        cut = "<br>… (truncated)"
    else:
        body = "\n".join(f"{label}: {value}" for label, value in rows)
        cut = "\n… (truncated)"
    if len(body) > COMMENTS_LIMIT:
        body = body[: COMMENTS_LIMIT - 40] + cut
    return body


def content_of(event: EventFacts, contact: dict, lang: str, as_html: bool) -> str:
    """C9/O7: the chat transcript, the request's content, or the call's summary."""
    if event.kind == "call":
        return call_summary(event, lang, as_html)
    if event.kind == "chat":
        extra = event.extra or {}
        w = _words(lang)
        chat = extra.get("chat") or {}
        heading = f"{w['chat']} №{event.external_id}"
        if _text(chat.get("chat_channel_name")):
            heading += f" · {w['channel']}: {_text(chat.get('chat_channel_name'))}"
        return transcript.render(extra.get("messages") or [], contact.get("name"), lang, as_html, heading=heading)
    return offline_request_comments(event.payload or {}, event.external_id, event.occurred_at, lang, as_html)


_CALL_WORDS = {
    "ru": {"call": "Звонок UIS", "in": "входящий", "out": "исходящий", "direction": "Направление",
           "client": "Номер клиента", "virtual": "Виртуальный номер", "scenario": "Сценарий", "employee": "Сотрудник",
           "talk": "Разговор, с", "answered": "Отвечен", "yes": "да", "no": "нет", "record": "Запись"},
    "en": {"call": "UIS call", "in": "incoming", "out": "outgoing", "direction": "Direction",
           "client": "Customer's number", "virtual": "Virtual number", "scenario": "Scenario",
           "employee": "Employee", "talk": "Talk, s", "answered": "Answered", "yes": "yes", "no": "no",
           "record": "Record"},
}


def call_summary(event: EventFacts, lang: str, as_html: bool) -> str:
    """A call in a few lines: direction, numbers, scenario, employee, talk time, record."""
    w = _CALL_WORDS["ru" if lang == "ru" else "en"]
    facts = facts_of(event)
    rows = [(w["call"], f"№{event.external_id}")]
    if facts.get("direction"):
        rows.append((w["direction"], w[facts["direction"]]))
    for label, key in (("client", "phone"), ("virtual", "virtual_number"), ("scenario", "scenario"),
                       ("employee", "employee_name"), ("talk", "talk_duration")):
        if facts.get(key) not in (None, ""):
            rows.append((w[label], str(facts[key])))
    if facts.get("answered") is not None:
        rows.append((w["answered"], w["yes"] if facts["answered"] else w["no"]))
    if record_link(event):
        rows.append((w["record"], record_link(event)))
    if as_html:
        return "<br>".join(f"<b>{html.escape(label)}:</b> {html.escape(value)}" for label, value in rows)
    return "\n".join(f"{label}: {value}" for label, value in rows)


def record_link(event: EventFacts) -> str | None:
    """The call's record: the talk_record_file notification's link, else the calls report's full record."""
    payload, call = event.payload or {}, (event.extra or {}).get("call") or {}
    for value in (payload.get("file_link"), payload.get("full_record_file_link"), call.get("full_record_file_link")):
        if _text(value).startswith(("http://", "https://")):
            return _text(value)
    return None


def follow_up(event: EventFacts, settings: dict) -> bool:
    """A later stage completing what the creating stage made: a chat's final transcript, a call's finish or
    record. What was created decides (its filters were applied then)."""
    if final_transcript_wanted(event, settings):
        return True
    described = channels.BY_KIND.get(event.kind)
    if described is None:
        return False
    options = settings.get(described.key) or {}
    return event.stage in described.follow_ups.get(options.get("create_on") or "", ())


def calls_pass(options: dict, facts: dict) -> Plan | None:
    """Which calls pass (the "Звонки" tab): incoming/outgoing, answered/missed, minimum talk time."""
    directions = options.get("directions") or ["in", "out"]
    if facts.get("direction") and facts["direction"] not in directions:
        return Plan(action="skip", reason="filtered_out", summary={"direction": facts["direction"]})
    outcomes = options.get("outcomes") or ["answered", "missed"]
    answered = facts.get("answered")
    if answered is not None and ("answered" if answered else "missed") not in outcomes:
        return Plan(action="skip", reason="filtered_out", summary={"answered": answered})
    minimum = int(options.get("min_talk_seconds") or 0)
    if answered and minimum and (facts.get("talk_duration") or 0) < minimum:
        return Plan(action="skip", reason="filtered_out", summary={"talk_duration": facts.get("talk_duration"),
                                                                    "min_talk_seconds": minimum})
    return None


# --- gates: decisions that need no Bitrix24 call ---------------------------------------------------
def gate(event: EventFacts, settings: dict, lang: str = "ru") -> Plan | None:
    """A skip decided from the event and the settings alone (no lookup), or None to go on."""
    return settings_gate(event, settings) or facts_gate(event, settings, lang)


def settings_gate(event: EventFacts, settings: dict) -> Plan | None:
    """The skips the settings decide from the event's kind and stage alone, before any enrichment."""
    if not (settings.get("main") or {}).get("active"):
        return Plan(action="skip", reason="main_inactive")
    channel = CHANNEL_OF_KIND.get(event.kind)
    if channel is None or event.stage not in KNOWN_STAGES.get(event.kind, ()):
        return Plan(action="skip", reason="kind_not_supported")
    options = settings.get(channel) or {}
    if not options.get("active", False):
        return Plan(action="skip", reason="channel_inactive")
    if not channels.BY_KIND[event.kind].processed:
        return Plan(action="skip", reason="kind_not_supported")
    wanted = STAGES[channel].get(options.get("create_on") or "", set())
    if event.stage not in wanted and follow_up(event, settings):
        return None  # what the creating stage made decides (its filters were applied then)
    if event.stage not in wanted:
        return Plan(action="skip", reason="wrong_stage", summary={"create_on": options.get("create_on")})
    return None


def facts_gate(event: EventFacts, settings: dict, lang: str = "ru") -> Plan | None:
    """The skips that read the event's (enriched) facts: chat channels, contact data, the filter."""
    channel = CHANNEL_OF_KIND[event.kind]
    options = settings.get(channel) or {}
    if channel == "calls":
        state = (event.extra or {}).get("call_state") or {}
        if state.get("not_wanted"):  # an earlier stage of this call was filtered out: so is the rest of it
            return Plan(action="skip", reason="filtered_out", summary={"call": state["not_wanted"]})
        if state.get("call_id"):
            return None  # registered already: finish and record follow it
        # Not registered yet: whichever stage registers it passes the call's filters first.
        return calls_pass(options, facts_of(event)) or _filter_tree(event, options, lang)
    if event.stage not in STAGES[channel].get(options.get("create_on") or "", set()):
        return None  # a chat's finish adding the transcript: what the start created decides
    if channel == "chats":
        channels = options.get("channels") or {}
        chat = (event.extra or {}).get("chat") or {}
        channel_id = (event.payload or {}).get("chat_channel_id") or chat.get("chat_channel_id")
        if channels.get("mode") == "selected" and channel_id is not None and \
                int(channel_id) not in {int(i) for i in channels.get("ids") or []}:
            return Plan(action="skip", reason="filtered_out", summary={"channel_id": channel_id})
        known = channels.get("known_ids")  # "all" without "include_new": the channels of the last sync
        if channels.get("mode", "all") == "all" and channels.get("include_new") is False and known is not None \
                and channel_id is not None and int(channel_id) not in {int(i) for i in known}:
            return Plan(action="skip", reason="filtered_out", summary={"channel_id": channel_id, "new_channel": True})
        contact = contact_of(event)
        if not options.get("pass_without_contacts", True) and not (contact["phone"] or contact["email"]):
            return Plan(action="skip", reason="no_contact_data")
    return _filter_tree(event, options, lang)


def _filter_tree(event: EventFacts, options: dict, lang: str) -> Plan | None:
    tree = options.get("filter")
    if tree:
        passed, explanation = evaluate(tree, facts_of(event), lang)
        if not passed:
            return Plan(action="skip", reason="filtered_out", summary={"filter": explanation})
    return None


def lookup_needs(event: EventFacts, settings: dict, crm_mode: int | None = CRM_MODE_CLASSIC) -> Needs:
    """Duplicates are read only when first/repeat changes the outcome: C4/O3, attach, a contact to reuse."""
    options = settings.get(CHANNEL_OF_KIND.get(event.kind, ""), {}) or {}
    contact = contact_of(event)
    attach = options.get("repeat_action") == "attach"
    has_contact = bool(contact["phone"] or contact["email"])
    entity = options.get("entity") or "lead_deal"
    deal = crm_mode != CRM_MODE_CLASSIC or (options.get("lead_deal") or {}).get("type") == "deal"
    matters = (options.get("contact_kinds") or "both") != "both" or attach or deal or entity == "activity"
    return Needs(origin=origin_id(event.kind, event.external_id), phone=contact["phone"], email=contact["email"],
                 duplicates=has_contact and matters, open_entity=attach and has_contact,
                 activity=attach or entity in ("activity", "lead_deal_activity"))


# --- the plan --------------------------------------------------------------------------------------
def _responsible(options: dict, main: dict, lookup: Lookup, facts: dict, lang: str) -> tuple[int | None, str]:
    active = set(lookup.active_user_ids) if lookup.active_user_ids is not None else None
    candidates = [int(c) for c in (options.get("default_responsible_id"), main.get("default_responsible_id"),
                                   lookup.fallback_responsible_id) if c]
    # A deleted/deactivated default falls to the next one (tab → Main tab → installer), named in the reason.
    usable = [c for c in candidates if active is None or c in active]
    default_id = usable[0] if usable else (candidates[0] if candidates else None)
    gone = [c for c in candidates if c not in usable][:1] if usable and candidates[0] not in usable else []
    user_id, reason = pick_responsible(options.get("responsible_rules") or [], facts, lookup.employee_user_id,
                                       default_id, active, use_employee_match=bool(options.get("use_employee_match",
                                                                                               True)), lang=lang)
    if gone and user_id == default_id:
        note = (f"ответственный по умолчанию {gone[0]} удалён или деактивирован" if lang == "ru"
                else f"default responsible {gone[0]} is deleted or deactivated")
        reason = f"{note}; {reason}"
    return user_id, reason



def _mapped(options: dict, facts: dict, lookup: Lookup) -> dict:
    rows = options.get("field_map") or []
    if not rows:
        return {}
    return apply_rows(rows, facts, lookup.b24_fields or {}) or {}


def _title(options: dict, which: str, facts: dict, lang: str, fallback: str) -> str:
    template = (options.get("title_template") or {}).get(which)
    if not template:
        return fallback[:255]
    return (render_title(template, facts, lang) or fallback)[:255]


def _link(lookup: Lookup, entity: str, ref: str) -> str:
    return f"{lookup.portal_url.rstrip('/')}/crm/{entity}/details/{ref}/"


def _others(lookup: Lookup) -> dict:
    """Duplicates minus what this very communication created earlier (found by its ORIGIN_ID)."""
    own = {int(v) for k, v in (lookup.existing or {}).items() if k in ("lead", "contact") and v}
    return {kind: [int(i) for i in ids if int(i) not in own]
            for kind, ids in (lookup.duplicates or {}).items() if isinstance(ids, list)}


def _is_repeat(lookup: Lookup) -> bool:
    others = _others(lookup)
    return bool(others.get("LEAD") or others.get("CONTACT"))


def plan(event: EventFacts, settings: dict, lookup: Lookup, lang: str = "ru", gated: bool = False) -> Plan:
    """Every option of the channel applied to one event: the Bitrix24 commands, or why none.

    `gated`: the caller already passed the event through `gate` (the engine does, before its lookups).
    """
    skipped = None if gated else gate(event, settings, lang)
    if skipped is not None:
        return skipped
    if final_transcript_wanted(event, settings):
        return plan_final_transcript(event, lookup, lang)
    return BUILDERS[channels.BY_KIND[event.kind].plan_builder](event, settings, lookup, lang)


def plan_communication(event: EventFacts, settings: dict, lookup: Lookup, lang: str = "ru") -> Plan:
    """A communication (an offline request, a chat) as a lead/deal, an activity, a contact, a notification."""
    described = channels.BY_KIND[event.kind]
    channel = described.key
    options = settings.get(channel) or {}
    main = settings.get("main") or {}
    w = _words(lang)
    origin = origin_id(event.kind, event.external_id)
    contact = contact_of(event)
    has_contact = bool(contact["phone"] or contact["email"])
    repeat = has_contact and _is_repeat(lookup)
    kinds = options.get("contact_kinds") or "both"
    entity_option = options.get("entity") or "lead_deal"
    want_entity = entity_option in ("lead_deal", "lead_deal_activity")
    want_activity = entity_option in ("activity", "lead_deal_activity")
    attach = repeat and options.get("repeat_action") == "attach" and bool(lookup.open_entity)

    # Exactly once: what this communication already has in Bitrix24 (ORIGIN_ID) or an attempt recorded.
    done = {k: v for k, v in (lookup.existing or {}).items() if v}
    primary_done = done.get("lead") or done.get("deal") or (done.get("activity") and (attach or not want_entity))
    if primary_done and lookup.written is None:
        return Plan(action="exists", reason="already_created", summary={"existing": done, "origin_id": origin})
    done.update({k: v for k, v in (lookup.written or {}).items() if v})

    if not primary_done:  # C4/O3 decide only before anything was created
        if repeat and kinds == "first":
            return Plan(action="skip", reason="repeat_contact", summary={"duplicates": lookup.duplicates})
        if not repeat and kinds == "repeat":
            return Plan(action="skip", reason="first_contact")

    facts = facts_of(event)
    responsible, responsible_reason = _responsible(options, main, lookup, facts, lang)
    if attach and lookup.open_entity.get("responsible_id"):
        responsible, responsible_reason = int(lookup.open_entity["responsible_id"]), "open_entity"
    simple = lookup.crm_mode == CRM_MODE_SIMPLE
    lead_deal = options.get("lead_deal") or {}
    entity = "deal" if simple or lead_deal.get("type") == "deal" else "lead"
    mapped = _mapped(options, facts, lookup)
    as_timeline = options.get("transcript_to") == "timeline"
    source_id = ((main.get("lead_source") or {}).get(channel)) or described.default_lead_source
    source_text = f"UIS: {described.word(lang, 'source')} №{event.external_id}"
    marker = {"ORIGINATOR_ID": ORIGINATOR_ID, "ORIGIN_ID": origin}
    commands: dict[str, tuple[str, dict]] = {}
    summary: dict = {"origin_id": origin, "channel": channel, "stage": event.stage, "repeat": repeat,
                     "responsible_id": responsible, "responsible_reason": responsible_reason,
                     "phone": contact["phone"], "email": contact["email"]}

    # Where the communication lives: a new lead/deal, the open one (attach), or a contact for a lone activity.
    owner_type, owner_ref, owner_title = None, None, ""
    if attach:
        owner_type, owner_ref = lookup.open_entity["type"], str(lookup.open_entity["id"])
        action, summary["attached_to"] = "attach", dict(lookup.open_entity)
    else:
        action = "create"
    if not attach and want_entity:
        title = _title(options, entity, facts, lang, f"{described.word(lang, 'title')}"
                       f" {w['from_site']} {_text((event.payload or {}).get('site_domain_name'))}".strip())
        fields = {"TITLE": title, "SOURCE_ID": source_id, "SOURCE_DESCRIPTION": source_text, **marker}
        if responsible:
            fields["ASSIGNED_BY_ID"] = responsible
        if not as_timeline:
            fields["COMMENTS"] = content_of(event, contact, lang, as_html=True)
        for key in _UTM_KEYS:
            if _text((event.payload or {}).get(key)):
                fields[key.upper()] = _text(event.payload[key])
        if entity == "lead":
            fields.update({"NAME": contact["name"] or w["no_name"], "PHONE": phone_multifield(contact["phone"]),
                           "EMAIL": email_multifield(contact["email"]), "OPENED": "Y"})
            if repeat and _others(lookup).get("CONTACT"):
                fields["CONTACT_ID"] = int(_others(lookup)["CONTACT"][0])
            fields.update(mapped.get("lead") or {})
        else:
            category = lead_deal.get("category_id")
            if category is None:
                category = main.get("deal_category_id") or 0
            fields["CATEGORY_ID"] = int(category)
            stage = lead_deal.get("stage_id") or main.get("deal_stage_id")
            if stage:
                fields["STAGE_ID"] = stage
            contact_id = (_others(lookup).get("CONTACT") or [None])[0] if repeat else None
            if contact_id:
                fields["CONTACT_ID"] = int(contact_id)
            elif contact["name"] or has_contact:
                commands["contact"] = ("crm.contact.add", {"fields": _contact_fields(contact, w, source_id,
                                                                                     responsible, marker, mapped)})
                fields["CONTACT_ID"] = "$result[contact]"
            fields.update(mapped.get("deal") or {})
        commands[entity] = (f"crm.{entity}.add", {"fields": fields, "params": {"REGISTER_SONET_EVENT": "Y"}})
        owner_type, owner_ref, owner_title = entity, f"$result[{entity}]", title
    elif not attach:  # a lone activity: bind it to the person (existing contact or lead), or a new contact
        dup = _others(lookup)
        if repeat and dup.get("CONTACT"):
            owner_type, owner_ref = "contact", str(dup["CONTACT"][0])
        elif repeat and dup.get("LEAD"):
            owner_type, owner_ref = "lead", str(dup["LEAD"][0])
        else:
            commands["contact"] = ("crm.contact.add", {"fields": _contact_fields(contact, w, source_id, responsible,
                                                                                 marker, mapped)})
            owner_type, owner_ref = "contact", "$result[contact]"
    summary["entity"] = owner_type

    content_plain = content_of(event, contact, lang, as_html=False)
    if want_activity or attach:
        subject = _title(options, "activity", facts, lang, f"{described.word(lang, 'subject')}"
                                                            f" №{event.external_id}")
        communication = contact["phone"] or contact["email"] or contact["name"] or origin
        activity = {"OWNER_TYPE_ID": OWNER_TYPE[owner_type], "OWNER_ID": owner_ref, "TYPE_ID": ACTIVITY_TYPE_MEETING,
                    "DIRECTION": 1, "SUBJECT": subject, "COMPLETED": "N", "PRIORITY": 2,
                    "COMMUNICATIONS": [{"VALUE": communication, "ENTITY_ID": owner_ref,
                                        "ENTITY_TYPE_ID": OWNER_TYPE[owner_type]}],
                    "DESCRIPTION": content_plain, "DESCRIPTION_TYPE": 1, **marker}
        if event.occurred_at:
            activity["START_TIME"] = b24_time(event.occurred_at)
        if responsible:
            activity["RESPONSIBLE_ID"] = responsible
        commands["activity"] = ("crm.activity.add", {"fields": activity})
        owner_title = owner_title or subject
    if as_timeline and owner_type in ("lead", "deal", "contact") and not (attach and not want_entity and
                                                                          "activity" in commands):
        commands["comment"] = ("crm.timeline.comment.add", {"fields": {
            "ENTITY_ID": owner_ref, "ENTITY_TYPE": owner_type, "COMMENT": content_plain}})
    if options.get("notify") and responsible:
        what = (f"{w['attached']} {w['entity'].get(owner_type, '')}" if attach
                else w["new"].get(owner_type if want_entity else "activity", ""))
        link = _link(lookup, owner_type, owner_ref)
        message = f"{what}: [URL={link}]{owner_title or origin}[/URL]"
        commands["notify"] = ("im.notify.system.add", {"USER_ID": responsible, "MESSAGE": message,
                                                       "MESSAGE_OUT": f"{what}: {owner_title} {link}",
                                                       "TAG": notify_tag(origin)})
    summary["parts"] = list(commands)
    summary["title"] = owner_title
    commands = resume(commands, done)
    if not commands:
        return Plan(action="exists", reason="already_created", summary={"existing": done, "origin_id": origin})
    return Plan(action=action, entity=owner_type, commands=commands, summary=summary)


@dataclass(frozen=True)
class Decision:
    """What the settings decide for one event before Bitrix24 is asked anything (the settings preview)."""

    passed: bool
    reason: str | None = None                 # the skip's reason code
    details: dict = field(default_factory=dict)  # the skip's summary (the filter's explanation, …)
    responsible_id: int | None = None
    responsible_reason: str = ""
    entity: str | None = None                 # where the communication lands: lead, deal, contact
    parts: tuple[str, ...] = ()               # what would be written: lead, contact, activity, notify, …
    title: str = ""


def decide(event: EventFacts, settings: dict, lookup: Lookup, lang: str = "ru") -> Decision:
    """The plan's outcome in a few fields: the same `plan` the engine runs."""
    result = plan(event, settings, lookup, lang)
    if result.action == "skip":
        return Decision(passed=False, reason=result.reason, details=dict(result.summary or {}))
    summary = result.summary or {}
    return Decision(passed=True, responsible_id=summary.get("responsible_id"),
                    responsible_reason=summary.get("responsible_reason") or "", entity=result.entity,
                    parts=tuple(summary.get("parts") or ()), title=summary.get("title") or "")


# telephony.externalCall.register TYPE (bitrix24 §11) and the entities a call can be bound to.
CALL_TYPE = {"out": 1, "in": 2}
USER_REFUSED = "User is not found or is not active"
_CALL_NOTES = {
    "ru": {"new_call": "Новый звонок", "unknown_employee": "сотрудник UIS {id} не сопоставлен с пользователем Bitrix24",
           "refused": "пользователь {id} не найден или неактивен в Bitrix24 — ответственный по умолчанию"},
    "en": {"new_call": "New call", "unknown_employee": "UIS employee {id} has no matched Bitrix24 user",
           "refused": "user {id} is not found or inactive in Bitrix24: the default responsible"},
}


def external_call_id(external_id: str) -> str:
    """The same for every attempt and stage of one UIS call: a re-register within 30 minutes returns the
    CALL_ID Bitrix24 gave the first time (bitrix24 §11)."""
    return f"uis-{external_id}"


def call_start(event: EventFacts) -> datetime | None:
    """When the call began, on the account's clock: the report's start_time, else the notification time of a
    start, else a finish's time minus the call's total time."""
    call = (event.extra or {}).get("call") or {}
    zone = event.occurred_at.tzinfo if event.occurred_at is not None else None
    for raw in (call.get("start_time"), (event.payload or {}).get("start_time")):
        if _text(raw):
            try:
                moment = datetime.fromisoformat(_text(raw))
            except ValueError:
                continue
            return moment if moment.tzinfo is not None or zone is None else moment.replace(tzinfo=zone)
    if event.occurred_at is None:
        return None
    if event.stage == "started":
        return event.occurred_at
    total = (event.payload or {}).get("total_time_duration") or call.get("total_duration")
    try:
        return event.occurred_at - timedelta(seconds=int(total or 0))
    except (TypeError, ValueError):
        return event.occurred_at


def call_status_code(facts: dict, event: EventFacts) -> str:
    """STATUS_CODE of telephony.externalCall.finish: 200 answered, 486 busy, 304 missed (bitrix24 §11)."""
    if facts.get("answered"):
        return "200"
    reason = _text(((event.extra or {}).get("call") or {}).get("finish_reason") or
                   (event.payload or {}).get("finish_reason")).lower()
    return "486" if "busy" in reason else "304"


def plan_call(event: EventFacts, settings: dict, lookup: Lookup, lang: str = "ru") -> Plan:
    """A UIS call in Bitrix24 telephony: registered once (with the lead/deal the settings ask for, in the same
    batch), finished once, its record attached once; each stage adds only what the call still lacks."""
    options = settings.get("calls") or {}
    main = settings.get("main") or {}
    origin = origin_id(event.kind, event.external_id)
    facts = facts_of(event)
    contact = contact_of(event)
    state = (event.extra or {}).get("call_state") or {}
    written = {k: v for k, v in (lookup.written or {}).items() if v}
    call_id = state.get("call_id")  # registered by another stage; this event's own register is resumed below
    over = event.stage in ("finished", "lost", "record_ready")
    finished = bool(state.get("finished") or written.get("finish"))
    record = record_link(event)
    summary: dict = {"origin_id": origin, "channel": "calls", "stage": event.stage, "phone": contact["phone"],
                     "direction": facts.get("direction"), "answered": facts.get("answered"),
                     "talk_duration": facts.get("talk_duration"), "virtual_number": facts.get("virtual_number")}
    commands: dict[str, tuple[str, dict]] = {}
    action, entity = "create", None
    user_id = state.get("user_id")
    if not call_id:
        if not contact["phone"]:
            return Plan(action="skip", reason="no_contact_data", summary=summary)
        user_id, reason = _responsible(options, main, lookup, facts, lang)
        notes = _CALL_NOTES["ru" if lang == "ru" else "en"]
        if facts.get("employee_id") and lookup.employee_user_id is None:
            reason = f"{notes['unknown_employee'].format(id=facts['employee_id'])}; {reason}"
        refused = written.get("user_refused")
        if refused and user_id == int(refused):
            defaults = [int(c) for c in (options.get("default_responsible_id"), main.get("default_responsible_id"),
                                         lookup.fallback_responsible_id) if c and int(c) != int(refused)]
            user_id = defaults[0] if defaults else None
            reason = notes["refused"].format(id=refused)
        if not user_id:
            return Plan(action="skip", reason="no_responsible", summary={**summary, "responsible_reason": reason})
        summary.update(responsible_id=user_id, responsible_reason=reason)
        register = {"USER_ID": user_id, "PHONE_NUMBER": contact["phone"],
                    "TYPE": CALL_TYPE.get(facts.get("direction") or "in", 2),
                    "EXTERNAL_CALL_ID": external_call_id(event.external_id),
                    "SHOW": 0 if over else 1, "CRM_CREATE": 0}
        start = call_start(event)
        if start is not None:
            register["CALL_START_DATE"] = b24_time(start)
        if facts.get("virtual_number"):
            register["LINE_NUMBER"] = facts["virtual_number"]
        entity_option = options.get("entity") or "lead_deal"
        repeat = _is_repeat(lookup)
        kinds = options.get("contact_kinds") or "both"
        bound = None
        if repeat and options.get("repeat_action") == "attach" and lookup.open_entity:
            action, entity = "attach", lookup.open_entity["type"]
            summary["attached_to"] = dict(lookup.open_entity)
            if lookup.open_entity.get("responsible_id"):
                register["USER_ID"] = user_id = int(lookup.open_entity["responsible_id"])
                summary.update(responsible_id=user_id, responsible_reason="open_entity")
            others = _others(lookup)
            bound = (("LEAD", lookup.open_entity["id"]) if entity == "lead"
                     else ("CONTACT", others["CONTACT"][0]) if others.get("CONTACT") else None)
        elif entity_option in ("lead_deal", "lead_deal_activity"):
            # The lead/deal, its contact and the notification: the communication's own planner, in this batch.
            part = plan_communication(event, {**settings, "calls": {**options, "entity": "lead_deal",
                                                                    "repeat_action": "create"}}, lookup, lang)
            if part.action == "skip":
                return part
            existing = (part.summary.get("existing") or {}) if part.action == "exists" else {}
            commands.update(part.commands)
            entity = part.entity or ("deal" if existing.get("deal") else "lead")
            for key in ("title", "parts"):
                summary.pop(key, None)
            summary["title"] = part.summary.get("title")
            if entity == "lead":
                bound = ("LEAD", existing.get("lead") or "$result[lead]")
            elif existing.get("contact") or "contact" in commands:
                bound = ("CONTACT", existing.get("contact") or "$result[contact]")
            elif commands.get("deal") and commands["deal"][1]["fields"].get("CONTACT_ID"):
                bound = ("CONTACT", commands["deal"][1]["fields"]["CONTACT_ID"])
        else:  # "Дело": the telephony call activity, on the person's contact/lead (a lead made for an unknown number)
            if repeat and kinds == "first":
                return Plan(action="skip", reason="repeat_contact", summary=summary)
            if not repeat and kinds == "repeat":
                return Plan(action="skip", reason="first_contact")
            register["CRM_CREATE"] = 1
            register["CRM_SOURCE"] = ((main.get("lead_source") or {}).get("calls")) or channels.CALLS.default_lead_source
            entity = "activity"
            others = _others(lookup)
            owner = ("contact", others["CONTACT"][0]) if others.get("CONTACT") else \
                ("lead", others["LEAD"][0]) if others.get("LEAD") else None
            if owner:  # the person the number belongs to: the call's activity lands in their timeline
                bound = (owner[0].upper(), int(owner[1]))
            if options.get("notify"):
                words = _CALL_NOTES["ru" if lang == "ru" else "en"]
                title = f"{words['new_call']}: {contact['phone']}"
                link = f" [URL={_link(lookup, owner[0], owner[1])}]{owner[0].upper()} #{owner[1]}[/URL]" if owner else ""
                commands["notify"] = ("im.notify.system.add", {"USER_ID": user_id, "MESSAGE": title + link,
                                                               "MESSAGE_OUT": title, "TAG": notify_tag(origin)})
        if bound:
            register["CRM_ENTITY_TYPE"], register["CRM_ENTITY_ID"] = bound
        commands["register"] = ("telephony.externalcall.register", register)
        call_ref = "$result[register][CALL_ID]"
    else:
        call_ref = call_id
        action = "attach"
        summary["call_id"] = call_id
        found = {k: int(v) for k, v in (lookup.existing or {}).items() if k in ("lead", "deal") and v}
        if found:  # the journal row links the lead/deal the call lives on
            entity = "lead" if "lead" in found else "deal"
            summary["attached_to"] = {"type": entity, "id": found[entity]}
    if over and not finished:
        commands["finish"] = ("telephony.externalcall.finish", {
            "CALL_ID": call_ref, "USER_ID": user_id or lookup.fallback_responsible_id,
            "DURATION": int(facts.get("talk_duration") or 0), "STATUS_CODE": call_status_code(facts, event)})
        finished = True
    if over and record and record != state.get("record_url") and finished:
        commands["record"] = ("telephony.externalcall.attachrecord", {"CALL_ID": call_ref, "RECORD_URL": record})
        summary["record_url"] = record
    if "notify" in commands:  # after everything it tells about
        commands["notify"] = commands.pop("notify")
    summary["user_id"] = user_id
    summary["entity"] = entity
    summary["parts"] = list(commands)
    commands = resume(commands, written)
    if not commands:
        existing = {k: v for k, v in {**(lookup.existing or {}), **written}.items()
                    if k in ("lead", "deal", "contact") and v}
        return Plan(action="exists", reason="already_created", summary={**summary, "existing": existing})
    return Plan(action=action, entity=entity, commands=commands, summary=summary)


# The plan builders channels name (bx_app.channels: Channel.plan_builder).
BUILDERS = {"communication": plan_communication, "call": plan_call}


def plan_final_transcript(event: EventFacts, lookup: Lookup, lang: str = "ru") -> Plan:
    """The whole transcript as a timeline comment on the entity the chat's start created, once."""
    origin = origin_id(event.kind, event.external_id)
    start = lookup.start_entity
    if not start or not start.get("id"):
        return Plan(action="skip", reason="start_not_created", summary={"origin_id": origin})
    marker = transcript_marker(event)
    summary = {"origin_id": origin, "channel": "chats", "stage": event.stage, "entity": start["type"],
               "attached_to": {"type": start["type"], "id": int(start["id"])}, "final_transcript": True}
    if (lookup.written or {}).get("transcript") or any(marker in str(c) for c in lookup.comments or []):
        return Plan(action="exists", reason="already_created",
                    summary={**summary, "existing": {start["type"]: int(start["id"])}})
    contact = contact_of(event)
    body = content_of(event, contact, lang, as_html=False)
    comment = {"fields": {"ENTITY_ID": int(start["id"]), "ENTITY_TYPE": start["type"], "COMMENT": f"{body}\n{marker}"}}
    summary["parts"] = ["transcript"]
    return Plan(action="attach", entity=start["type"], summary=summary,
                commands={"transcript": ("crm.timeline.comment.add", comment)})


def _contact_fields(contact: dict, w: dict, source_id: str, responsible: int | None, marker: dict,
                    mapped: dict) -> dict:
    fields = {"NAME": contact["name"] or w["no_name"], "PHONE": phone_multifield(contact["phone"]),
              "EMAIL": email_multifield(contact["email"]), "SOURCE_ID": source_id, **marker}
    if responsible:
        fields["ASSIGNED_BY_ID"] = responsible
    fields.update(mapped.get("contact") or {})
    return fields


def _substitute(value, done: dict):
    if isinstance(value, str):
        return _REF_RE.sub(lambda m: str(done[m.group(1)]) if m.group(1) in done else m.group(0), value)
    if isinstance(value, dict):
        return {k: _substitute(v, done) for k, v in value.items()}
    if isinstance(value, list):
        return [_substitute(v, done) for v in value]
    return value


def resume(commands: dict, done: dict) -> dict:
    """Drop commands whose part is already written and put its id where later commands refer to it."""
    out = {}
    for key, (method, params) in commands.items():
        if key in done:
            continue
        out[key] = (method, _substitute(params, done))
    return out
