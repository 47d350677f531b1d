"""What a credential still needs before UIS events become Bitrix24 entities, and a dry run of one request."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo

from bx_app import intake, reference_data, settings_store
from bx_app.integration import planner
from bx_app.models import Credential, Event
from bx_app.models.account import PortalStatus
from bx_app.models.timeutil import from_local
from bx_app.typed_settings import Settings
from bx_app.uis.notifications import EVENTS, NotificationInvalid, default_template, parse_notification
from bx_app.uis_accounts import NOTIFICATION_EVENTS


@dataclass
class Step:
    """One line of the checklist: done or not, and the facts the page shows next to it."""

    key: str
    done: bool
    facts: dict = field(default_factory=dict)


@dataclass
class NotificationArrival:
    event: str                   # the UIS event mnemonic ("offline_message", "chat_finished", ...)
    last_at: datetime | None     # when the last one came by push (naive UTC, as stored)
    count: int


def notification_arrivals(credential_id: int, settings: Settings | None = None) -> list[NotificationArrival]:
    """Per UIS event the app listens to: how many came by push and when the last one did. Calls' events
    count once the "Звонки" tab is on (an account may have no telephony to send them)."""
    settings = settings if settings is not None else settings_store.load_settings(credential_id)
    rows = []
    for mnemonic in NOTIFICATION_EVENTS:
        kind, stage = EVENTS[mnemonic]
        if kind == "call" and not settings.calls.active:
            continue
        query = Event.query.filter_by(credential_id=credential_id, source="push", kind=kind, stage=stage)
        last = query.order_by(Event.created_at.desc()).with_entities(Event.created_at).first()
        rows.append(NotificationArrival(mnemonic, last[0] if last else None, query.count()))
    return rows


def last_rejected(credential_id: int) -> Event | None:
    """The latest notification the hook refused (a template pasted wrong shows here)."""
    return (Event.query.filter_by(credential_id=credential_id, kind="notification", stage="rejected")
            .order_by(Event.created_at.desc()).first())


def checklist(credential: Credential) -> list[Step]:
    """Installed → UIS account → notifications → Main tab on → sync → employees, each with its facts."""
    portal = credential.portal
    main = settings_store.load_channel(credential.id, "main")
    arrivals = notification_arrivals(credential.id)
    last_sync = reference_data.last_sync(credential.id)
    employees = reference_data.uis_employees(credential.id)
    links = reference_data.employee_links(credential.id)
    matched = sum(1 for e in employees
                  if (link := links.get(int(e["id"]))) is not None and link.b24_user_id and not link.reason)
    sync_errors = (last_sync or {}).get("errors") or {}
    rejected = last_rejected(credential.id)
    return [
        Step("installed", portal.status == PortalStatus.INSTALLED, {"status": portal.status}),
        Step("account", credential.uis_account_id is not None,
             {"account": credential.uis_account}),
        Step("notifications", all(a.last_at for a in arrivals),
             {"arrivals": arrivals, "rejected": rejected}),
        Step("main_active", main.active),
        Step("sync", bool(last_sync) and not sync_errors,
             {"finished_at": _parse_time((last_sync or {}).get("finished_at")), "errors": sync_errors}),
        Step("employees", bool(last_sync) and matched == len(employees),
             {"matched": matched, "total": len(employees)}),
    ]


def _parse_time(value) -> datetime | None:
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError:
        return None
    return moment.astimezone(UTC).replace(tzinfo=None) if moment.tzinfo else moment


# --- "Проверить": a synthetic request through the hook's parsing and the planner, nothing written ------
SAMPLE_VALUES = {
    "notification_name": "UIS 2.0",
    "offline_message_id": 900000001,
    "chat_id": 900000002,
    "communication_id": 900000003,
    "visitor_name": "Проверка Интеграции",
    "visitor_phone_number": "79990000000",
    "visitor_email": "check@example.com",
    "visitor_message": "Тестовая заявка: проверка настроек",
    "visitor_id": 1,
    "session_id": 1,
    "site_domain_name": "example.com",
    "campaign_id": 1,
    "campaign_name": "Проверка",
    "search_engine": None,
    "search_query": None,
    "status": "finished",
    "messages": 2,
    "employee_full_name": None,
    "ua_client_id": None,
    "utm_source": "check",
    "utm_medium": None,
    "utm_campaign": None,
    "utm_term": None,
    "utm_content": None,
    "tag_ids": None,
}


@dataclass
class DryRun:
    """What the app would do with one request of this kind now, decided by the real parsing and planner."""

    event: str
    parsed: bool
    error: str | None = None
    kind: str | None = None
    stage: str | None = None
    dedupe_key: str | None = None
    action: str | None = None        # create / attach / skip / exists
    reason: str | None = None        # the planner's reason code for a skip
    summary: dict = field(default_factory=dict)
    commands: list[tuple[str, str, dict]] = field(default_factory=list)  # (key, method, fields)


def _on_account_clock(moment: datetime | None, zone: tzinfo) -> datetime | None:
    instant = from_local(moment, zone)
    return instant.astimezone(zone) if instant is not None else None


def _rendered_template(mnemonic: str, now: datetime) -> str:
    """The POST template the administrator pastes into UIS, filled the way UIS fills it (JSON literals)."""
    values = {**SAMPLE_VALUES, "notification_time": now.strftime("%Y-%m-%d %H:%M:%S")}
    text = default_template(mnemonic, "POST")
    for name, value in values.items():
        text = text.replace("{{" + name + "}}", json.dumps(value, ensure_ascii=False))
    return text


def dry_run(credential: Credential, lang: str = "ru", events: tuple[str, ...] = ("offline_message", "chat_finished"),
            ) -> list[DryRun]:
    """Each sample notification through the hook's parser and the planner; nothing is stored or sent."""
    settings = settings_store.load_settings(credential.id)
    active = reference_data.active_user_ids(credential.id)
    lookup = planner.Lookup(
        crm_mode=reference_data.crm_mode(credential.id) or planner.CRM_MODE_CLASSIC,
        fallback_responsible_id=credential.portal.installer_user_id,
        active_user_ids=frozenset(active) if active else None,
        b24_fields=reference_data.b24_fields(credential.id) or {},
        portal_url=credential.portal.portal_url,
    )
    # UIS fills notification_time with its account's wall clock; the engine reads it in that zone.
    zone = intake.account_zone(credential.id)
    now = datetime.now(zone).replace(tzinfo=None, microsecond=0)
    results = []
    for mnemonic in events:
        try:
            notification = parse_notification(_rendered_template(mnemonic, now))
        except NotificationInvalid as exc:
            results.append(DryRun(mnemonic, parsed=False, error=str(exc)))
            continue
        # The request is planned at the stage its section creates on ("processed", a chat's start): what
        # the administrator wants to see is what would be created, not "created at another stage".
        channel = planner.CHANNEL_OF_KIND[notification.kind]
        wanted = planner.STAGES[channel].get(settings.channel(channel).create_on) or set()
        stage = notification.stage if notification.stage in wanted or not wanted else sorted(wanted)[0]
        facts = planner.EventFacts(id=0, kind=notification.kind, stage=stage,
                                   external_id=notification.external_id, payload=notification.fields,
                                   occurred_at=_on_account_clock(notification.occurred_at, zone))
        decided = planner.plan(facts, settings.as_dict(), lookup, lang)
        commands = [(key, method, params.get("fields") or params) for key, (method, params) in decided.commands.items()]
        results.append(DryRun(
            mnemonic, parsed=True, kind=notification.kind, stage=stage,
            dedupe_key=intake.dedupe_key(notification.kind, notification.stage, notification.external_id),
            action=decided.action, reason=decided.reason, summary=decided.summary, commands=commands))
    return results
