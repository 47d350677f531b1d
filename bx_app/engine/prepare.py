"""Before Bitrix24: the group's shared data, the gates, a chat finish's start, enrichment → in-memory facts."""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import tzinfo

from bx_app import channels, journal_view
from bx_app.engine import journal
from bx_app.engine.call_enrichment import call_states, enrich_calls
from bx_app.engine.chat_enrichment import enrich_chats
from bx_app.engine.offline_enrichment import enrich_offline_messages
from bx_app.engine.work import Group, Work
from bx_app.extensions import db
from bx_app.integration.planner import EventFacts, facts_gate, final_transcript_wanted, settings_gate
from bx_app.models import Credential, Event, Portal
from bx_app.models.account import PortalStatus
from bx_app.models.event import EventStatus
from bx_app.models.timeutil import utcnow
from bx_app.reference_data import planning_reference
from bx_app.settings_store import load_settings
from bx_app.typed_settings import Settings

# A chat's finish waits for its start this long between looks; with no start row at all, this many tries.
START_WAIT_SECONDS = 3
START_MISSING_ATTEMPTS = 5
# A chat whose Data API reading failed is tried again this many times, then processed with what it has.
ENRICH_ATTEMPTS = 2


@dataclass
class Prepared:
    group: Group | None
    works: list[Work] = field(default_factory=list)
    statuses: dict[int, str] = field(default_factory=dict)  # events decided here (not in `works`)


def facts_of(event: Event, zone: tzinfo) -> EventFacts:
    """The planner's view of a row; its time on the UIS account's clock (hours, dates and filters are local)."""
    payload = dict(event.payload or {})
    extra = {k[1:]: payload.pop(k) for k in ("_chat", "_messages", "_visitor", "_call") if k in payload}
    occurred = event.occurred_at.astimezone(zone) if event.occurred_at is not None else None
    return EventFacts(id=event.id, kind=event.kind, stage=event.stage, external_id=event.external_id,
                      payload=payload, occurred_at=occurred, extra=extra)


def planner_settings(settings: Settings, reference) -> dict:
    """The planner's plain settings; C1 "all channels" without new ones also gets the channel ids known at
    the last sync."""
    plain = settings.as_dict()
    chats = settings.chats.channels
    if chats is not None and chats.mode == "all" and not chats.include_new:
        plain["chats"]["channels"]["known_ids"] = reference.known_channel_ids
    return plain


def build_group(portal: Portal, credential: Credential) -> Group:
    """What a group of the portal's events shares: the settings, the reference data, the zone, read once."""
    reference = planning_reference(credential.id)
    settings = load_settings(credential.id)
    return Group(
        portal_id=portal.id, credential_id=credential.id, typed_settings=settings,
        settings=planner_settings(settings, reference),
        lang=portal.lang or "ru", zone=journal_view.timezone_of(credential), crm_mode=portal.crm_mode,
        installer_id=portal.installer_user_id, portal_url=f"https://{portal.domain}" if portal.domain else "",
        reference=reference)


def load_events(event_ids: list[int]) -> None:
    """The group's rows in one SELECT (fresh after a commit): the `db.session.get` per event that follow find
    them in the session instead of costing a database round trip each (the drain's largest cost in
    benchmarks/e2e.py on PostgreSQL)."""
    if event_ids:
        Event.query.filter(Event.id.in_(list(event_ids))).all()


def prepare(portal_id: int, event_ids: list[int]) -> Prepared:
    portal = db.session.get(Portal, portal_id)
    credential = Credential.query.filter_by(portal_id=portal_id).one_or_none()
    load_events(event_ids)
    rows = [e for e in (db.session.get(Event, i) for i in event_ids) if e is not None]
    out = Prepared(group=None)
    live = []
    for event in rows:
        if event.status in (EventStatus.DONE, EventStatus.SKIPPED):
            out.statuses[event.id] = event.status
        elif portal is None or credential is None or portal.status == PortalStatus.UNINSTALLED:
            journal.finish(event.id, EventStatus.FAILED, "portal_uninstalled")
            out.statuses[event.id] = EventStatus.FAILED
        elif portal.status == PortalStatus.NEEDS_REAUTH:
            journal.finish(event.id, EventStatus.FAILED, "needs_reauth", error=portal.status_reason)
            out.statuses[event.id] = EventStatus.FAILED
        else:
            live.append(event)
    if not live:
        return out
    group = out.group = build_group(portal, credential)

    # The settings alone decide most skips: before any Data API call.
    for event in list(live):
        skipped = settings_gate(facts_of(event, group.zone), group.settings)
        if skipped is not None:
            journal.finish(event.id, EventStatus.SKIPPED, skipped.reason, result={"plan": skipped.summary})
            out.statuses[event.id] = EventStatus.SKIPPED
            live.remove(event)
    starts = _chat_starts(group, live, out.statuses)
    ids = [e.id for e in live if e.id not in out.statuses]
    db.session.commit()

    load_events(ids)
    by_step: dict[str, list[Event]] = {}
    for event_id in ids:
        event = db.session.get(Event, event_id)
        step = channels.BY_KIND[event.kind].enrichment
        if step:
            by_step.setdefault(step, []).append(event)
    for step, events in by_step.items():
        for event_id in ENRICHMENT[step](group, events):
            # The Data API failed: try later, a few times, then go on with what we have.
            event = db.session.get(Event, event_id)
            if (event.attempts or 0) < ENRICH_ATTEMPTS:
                event.attempts = (event.attempts or 0) + 1
                db.session.commit()
                out.statuses[event_id] = journal.schedule_retry(group, event_id, event.attempts,
                                                                "uis_error: Data API unavailable")
                ids.remove(event_id)

    load_events(ids)
    calls = call_states(group.credential_id, [db.session.get(Event, i) for i in ids])
    for event_id in list(ids):
        event = db.session.get(Event, event_id)
        facts = facts_of(event, group.zone)
        if event_id in calls:
            state = calls[event_id]
            if state.get("wait"):  # an earlier stage of this call first: register → finish → record
                work = Work(event_id=event_id, facts=facts, attempts=(event.attempts or 0) + 1, written=None)
                journal.defer(group, work, START_WAIT_SECONDS, "waiting_for_start")
                out.statuses[event_id] = "deferred"
                continue
            facts = replace(facts, extra={**facts.extra, "call_state": state})
        skipped = facts_gate(facts, group.settings, group.lang)
        if skipped is not None:
            journal.finish(event_id, EventStatus.SKIPPED, skipped.reason, result={"plan": skipped.summary})
            out.statuses[event_id] = EventStatus.SKIPPED
            continue
        event.status = EventStatus.PROCESSING
        event.attempts = (event.attempts or 0) + 1
        written = (event.result or {}).get("written")
        out.works.append(Work(event_id=event_id, facts=facts, attempts=event.attempts,
                              written=dict(written) if isinstance(written, dict) else None,
                              start=starts.get(event_id)))
    db.session.commit()  # no transaction stays open across the Bitrix24 calls that follow
    return out


def _offline_report(group: Group, events: list[Event]) -> list[int]:
    """A pushed request: the notification carries a few fields, the report row adds form, page, campaign, UTM.
    A Data API failure leaves the request as it is (never lost for want of extra data)."""
    enrich_offline_messages([event.id for event in events if event.source == "push"])
    return []


def _chat_report(group: Group, events: list[Event]) -> list[int]:
    """Chats' rows, messages and visitors, three Data API calls for the group; the ids whose reading failed."""
    return enrich_chats(group.credential_id, [e.id for e in events])


def _call_report(group: Group, events: list[Event]) -> list[int]:
    """Calls' report rows, one Data API call for the group (what the call's other stages did is read later)."""
    return enrich_calls(group.credential_id, [e.id for e in events])


# The enrichment steps channels name (bx_app.channels: Channel.enrichment).
ENRICHMENT = {"offline_report": _offline_report, "chat_report": _chat_report, "call_report": _call_report}


def _chat_starts(group: Group, events: list[Event], statuses: dict[int, str]) -> dict:
    """Chat finishes that add the transcript to what the start created: {event id: {"type", "id"}}.

    The stages of a chat keep their order: a finish whose start is still pending waits (deferred, no
    attempt spent), one whose start created nothing is skipped, one whose start was never seen is retried a
    few times (polling records the start of every chat it reads) and then skipped.
    """
    starts: dict[int, dict] = {}
    for event in events:
        facts = facts_of(event, group.zone)
        if not final_transcript_wanted(facts, group.settings):
            continue
        start = Event.query.filter_by(credential_id=group.credential_id, kind="chat", stage="started",
                                      external_id=event.external_id).one_or_none()
        work = Work(event_id=event.id, facts=facts, attempts=(event.attempts or 0) + 1, written=None)
        if start is None:
            if (event.attempts or 0) >= START_MISSING_ATTEMPTS:
                journal.finish(event.id, EventStatus.SKIPPED, "start_not_seen")
                statuses[event.id] = EventStatus.SKIPPED
            else:
                event.attempts = (event.attempts or 0) + 1
                statuses[event.id] = journal.schedule_retry(group, event.id, event.attempts,
                                                            "waiting for the chat's start", START_WAIT_SECONDS)
        elif start.status in (EventStatus.NEW, EventStatus.PROCESSING):
            due = start.enqueued_at - utcnow() if start.enqueued_at and start.status == EventStatus.NEW else None
            wait = START_WAIT_SECONDS + (max(0, int(due.total_seconds())) if due else 0)
            journal.defer(group, work, min(wait, 3600), "waiting_for_start")
            statuses[event.id] = "deferred"
        else:
            entity = start_entity(start)
            if entity is None:
                journal.finish(event.id, EventStatus.SKIPPED, "start_not_created",
                               result={"plan": {"start_status": start.status, "start_reason": start.reason}})
                statuses[event.id] = EventStatus.SKIPPED
            else:
                starts[event.id] = entity
    db.session.commit()
    return starts


def start_entity(start: Event) -> dict | None:
    """The lead/deal/contact a chat's start created or attached to, from its journal row."""
    if start.status != EventStatus.DONE:
        return None
    result = start.result or {}
    summary = result.get("plan") or {}
    kinds = [summary.get("entity")] if summary.get("entity") in ("lead", "deal", "contact") else []
    for kind in [*kinds, "lead", "deal", "contact"]:
        if result.get(f"{kind}_id"):
            return {"type": kind, "id": int(result[f"{kind}_id"])}
    return None
