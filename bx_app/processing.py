"""Processing a portal's events together: gates, enrichment, shared lookup and write batches, the journal."""
from __future__ import annotations

import contextlib
import logging
import random
import time
from dataclasses import dataclass, field
from datetime import timedelta, tzinfo

from flask import current_app

from bx_app import journal_view, observability
from bx_app.bitrix.client import MAX_BATCH
from bx_app.bitrix.errors import (
    BitrixError,
    NetworkError,
    PortalNeedsReauth,
    QueryLimitExceeded,
    RateLimited,
    ServerError,
)
from bx_app.extensions import db, redis_connection
from bx_app.integration import chat_enrichment
from bx_app.integration.planner import (
    CRM_MODE_CLASSIC,
    ORIGINATOR_ID,
    EventFacts,
    Lookup,
    Needs,
    Plan,
    final_transcript_wanted,
    gate,
    lookup_needs,
    origin_id,
    plan,
    resume,
)
from bx_app.integration.wire import pack, prefixed, resolve
from bx_app.models import Credential, Event, Portal
from bx_app.models.account import PortalStatus
from bx_app.models.event import EventStatus
from bx_app.models.timeutil import utcnow

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 8
RETRY_DELAYS = (15, 30, 60, 120, 300, 600, 1800, 3600)
TRANSIENT = (RateLimited, ServerError, NetworkError)
# Skips the planner can decide before any enrichment or Bitrix24 call.
CHEAP_SKIPS = ("main_inactive", "channel_inactive", "wrong_stage", "kind_not_supported")
# A write batch refused by the bucket was not executed: send it again after a pause, this many times.
WRITE_LIMIT_RETRIES = 4


@dataclass(eq=False)
class Work:
    """One event on its way through the shared batches."""

    event_id: int
    facts: EventFacts
    attempts: int
    written: dict | None
    needs: Needs | None = None
    found: dict = field(default_factory=dict)   # what the lookup batch read for this event
    plan: Plan | None = None
    status: str | None = None                   # set once the event's fate is decided
    start: dict | None = None                   # a chat's finish when created at start: {"type", "id"} to comment on


def _load_settings(credential_id: int) -> dict:
    """The settings; C1 "all channels" without new ones also gets the channel ids known at the last sync."""
    from bx_app.settings_store import load_settings

    settings = load_settings(credential_id)
    channels = (settings.get("chats") or {}).get("channels")
    if isinstance(channels, dict) and channels.get("mode", "all") == "all" and channels.get("include_new") is False:
        channels["known_ids"] = _known_channel_ids(credential_id)
    return settings


def _known_channel_ids(credential_id: int) -> list[int] | None:
    """UIS chat channels stored by the last reference sync; None before any sync (then none is "new")."""
    from bx_app import reference_data

    if reference_data.synced_at(credential_id, "uis_channels") is None:
        return None
    return [int(c["id"]) for c in reference_data.uis_channels(credential_id) if c.get("id") is not None]


def _reference(credential_id: int) -> dict:
    """Synced reference data (users, fields, employee links), or nothing when not synced/available yet."""
    try:
        from bx_app import reference_data as ref
    except ImportError:
        return {}
    out: dict = {"module": ref}
    with contextlib.suppress(Exception):
        ids = ref.active_user_ids(credential_id)
        out["active"] = frozenset(int(i) for i in ids) if ids else None
    fields = {}
    for entity in ("lead", "deal", "contact"):
        with contextlib.suppress(Exception):
            fields[entity] = ref.b24_fields(credential_id, entity) or {}
    out["fields"] = fields
    return out


def _employee_user(reference: dict, credential_id: int, facts: EventFacts) -> int | None:
    ref = reference.get("module")
    employee = (facts.payload or {}).get("employee_id") or ((facts.extra or {}).get("chat") or {}).get("employee_id")
    if ref is None or not employee:
        return None
    with contextlib.suppress(Exception):
        return ref.employee_user_id(credential_id, int(employee))
    return None


def _finish(event_id: int, status: str, reason: str | None = None, result: dict | None = None,
            error: str | None = None) -> None:
    event = db.session.get(Event, event_id)
    event.status = status
    event.reason = reason
    if result is not None:
        event.result = result
    if error is not None:
        event.last_error = error[:4000]
    event.processed_at = utcnow()
    db.session.commit()
    observability.event_journaled(event, status)


def _facts(event: Event, zone: tzinfo) -> EventFacts:
    """The planner's view of a row; its time on the UIS account's clock (hours, dates and filters are local)."""
    payload = dict(event.payload or {})
    extra = {k[1:]: payload.pop(k) for k in ("_chat", "_messages", "_visitor") if k in payload}
    occurred = event.occurred_at.astimezone(zone) if event.occurred_at is not None else None
    return EventFacts(id=event.id, kind=event.kind, stage=event.stage, external_id=event.external_id,
                      payload=payload, occurred_at=occurred, extra=extra)


# --- entry points ---------------------------------------------------------------------------------
def process_event(event_id: int) -> str:
    """Process one event exactly once (a Redis lock keeps two workers off the same row)."""
    row = db.session.get(Event, event_id)
    if row is None:
        return "missing"
    portal_id = db.session.query(Credential.portal_id).filter(Credential.id == row.credential_id).scalar()
    db.session.commit()
    return process_group(portal_id, [event_id]).get(event_id, "locked")


# Retries decided while a group is processed, by delay: scheduled together when the group ends.
_retries: dict[int, list[int]] = {}


def process_group(portal_id: int, event_ids: list[int], naive: bool = False) -> dict[int, str]:
    """Process some events of one portal together: their lookups and writes share Bitrix24 batches."""
    redis = redis_connection()
    locks, mine = [], []
    for event_id in event_ids:
        lock = redis.lock(f"bx:event-lock:{event_id}", timeout=current_app.config["EVENT_LOCK_SECONDS"],
                          blocking_timeout=0)
        if lock.acquire(blocking=False):
            locks.append(lock)
            mine.append(event_id)
    statuses: dict[int, str] = {}
    _retries.clear()
    try:
        works = _prepare(portal_id, mine, statuses)
        if works:
            _run(portal_id, works, naive=naive)
            for work in works:
                statuses[work.event_id] = work.status or "retry"
    finally:
        _schedule_requeues(portal_id)
        for lock in locks:
            with contextlib.suppress(Exception):  # an expired lock is fine to lose
                lock.release()
    return statuses


def _schedule_requeues(portal_id: int) -> None:
    """One delayed `requeue_events` job per delay: retried events go back to the portal's pending set,
    where the drain coalesces them with the rest (never one job per event). If Redis refuses, the rows'
    `enqueued_at` (set to when they are due) lets the sweeper queue them."""
    by_delay = dict(_retries)
    _retries.clear()
    for delay, ids in sorted(by_delay.items()):
        try:
            from bx_app import jobs

            jobs.queue(jobs.QUEUE_EVENTS).enqueue_in(timedelta(seconds=delay), "bx_app.jobs.requeue_events",
                                                     portal_id, ids, result_ttl=60, failure_ttl=86400)
        except Exception as exc:  # noqa: BLE001 - the sweeper picks the rows up
            log.warning("cannot schedule the retry of events %s: %s", ids, exc)


# --- before Bitrix24: gates, enrichment ------------------------------------------------------------
def _prepare(portal_id: int, event_ids: list[int], statuses: dict[int, str]) -> list[Work]:
    portal = db.session.get(Portal, portal_id)
    credential = Credential.query.filter_by(portal_id=portal_id).one_or_none()
    rows = [e for e in (db.session.get(Event, i) for i in event_ids) if e is not None]
    live = []
    for event in rows:
        if event.status in (EventStatus.DONE, EventStatus.SKIPPED):
            statuses[event.id] = event.status
        elif portal is None or credential is None or portal.status == PortalStatus.UNINSTALLED:
            _finish(event.id, EventStatus.FAILED, "portal_uninstalled")
            statuses[event.id] = EventStatus.FAILED
        elif portal.status == PortalStatus.NEEDS_REAUTH:
            _finish(event.id, EventStatus.FAILED, "needs_reauth", error=portal.status_reason)
            statuses[event.id] = EventStatus.FAILED
        else:
            live.append(event)
    if not live:
        return []
    settings = _load_settings(credential.id)
    lang = portal.lang or "ru"
    zone = journal_view.timezone_of(credential)
    for event in list(live):
        cheap = gate(_facts(event, zone), settings, lang)
        if cheap is not None and cheap.reason in CHEAP_SKIPS:
            _finish(event.id, EventStatus.SKIPPED, cheap.reason, result={"plan": cheap.summary})
            statuses[event.id] = EventStatus.SKIPPED
            live.remove(event)
    starts = _chat_starts(credential.id, live, settings, statuses, zone)
    ids = [e.id for e in live if e.id not in statuses]
    db.session.commit()

    for event_id in ids:
        event = db.session.get(Event, event_id)
        if event.source == "push" and event.kind == "offline_message":
            from bx_app.enrichment import enrich_offline_message

            # The notification carries a few fields; the Data API row adds form, page, campaign and UTM.
            enrich_offline_message(event.id)
    chat_ids = [i for i in ids if db.session.get(Event, i).kind == "chat"]
    if chat_ids:
        failed = chat_enrichment.enrich_chats(credential.id, chat_ids)
        for event_id in failed:  # the Data API failed: try later, a few times, then go on with what we have
            event = db.session.get(Event, event_id)
            if (event.attempts or 0) < 2:
                event.attempts = (event.attempts or 0) + 1
                db.session.commit()
                statuses[event_id] = _schedule_retry(event_id, event.attempts, "uis_error: Data API unavailable")
                ids.remove(event_id)

    works = []
    for event_id in ids:
        event = db.session.get(Event, event_id)
        facts = _facts(event, zone)
        skipped = gate(facts, settings, lang)
        if skipped is not None:
            _finish(event_id, EventStatus.SKIPPED, skipped.reason, result={"plan": skipped.summary})
            statuses[event_id] = EventStatus.SKIPPED
            continue
        event.status = EventStatus.PROCESSING
        event.attempts = (event.attempts or 0) + 1
        written = (event.result or {}).get("written")
        works.append(Work(event_id=event_id, facts=facts, attempts=event.attempts,
                          written=dict(written) if isinstance(written, dict) else None, start=starts.get(event_id)))
    db.session.commit()  # no transaction stays open across the Bitrix24 calls below
    return works


# A chat's finish waits for its start this long between looks; with no start row at all, this many tries.
START_WAIT_SECONDS = 3
START_MISSING_ATTEMPTS = 5


def _chat_starts(credential_id: int, events: list[Event], settings: dict, statuses: dict[int, str],
                 zone: tzinfo) -> dict:
    """Chat finishes that add the transcript to what the start created: {event id: {"type", "id"}}.

    The stages of a chat keep their order: a finish whose start is still pending waits (deferred, no
    attempt spent), one whose start created nothing is skipped, one whose start was never seen is retried a
    few times (polling records the start of every chat it reads) and then skipped.
    """
    starts: dict[int, dict] = {}
    for event in events:
        if not final_transcript_wanted(_facts(event, zone), settings):
            continue
        start = Event.query.filter_by(credential_id=credential_id, kind="chat", stage="started",
                                      external_id=event.external_id).one_or_none()
        work = Work(event_id=event.id, facts=_facts(event, zone), attempts=(event.attempts or 0) + 1, written=None)
        if start is None:
            if (event.attempts or 0) >= START_MISSING_ATTEMPTS:
                _finish(event.id, EventStatus.SKIPPED, "start_not_seen")
                statuses[event.id] = EventStatus.SKIPPED
            else:
                event.attempts = (event.attempts or 0) + 1
                statuses[event.id] = _schedule_retry(event.id, event.attempts, "waiting for the chat's start",
                                                     START_WAIT_SECONDS)
        elif start.status in (EventStatus.NEW, EventStatus.PROCESSING):
            due = start.enqueued_at - utcnow() if start.enqueued_at and start.status == EventStatus.NEW else None
            wait = START_WAIT_SECONDS + (max(0, int(due.total_seconds())) if due else 0)
            _defer(work, min(wait, 3600), "waiting_for_start")
            statuses[event.id] = "deferred"
        else:
            entity = _start_entity(start)
            if entity is None:
                _finish(event.id, EventStatus.SKIPPED, "start_not_created",
                        result={"plan": {"start_status": start.status, "start_reason": start.reason}})
                statuses[event.id] = EventStatus.SKIPPED
            else:
                starts[event.id] = entity
    db.session.commit()
    return starts


def _start_entity(start: Event) -> dict | None:
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


# --- Bitrix24: one shared lookup round, one shared write round ----------------------------------------
def _run(portal_id: int, works: list[Work], naive: bool = False) -> None:
    from bx_app.portal_auth import client_for_portal

    portal = db.session.get(Portal, portal_id)
    credential = Credential.query.filter_by(portal_id=portal_id).one()
    credential_id, crm_mode, lang = credential.id, portal.crm_mode, portal.lang or "ru"
    installer, portal_url = portal.installer_user_id, f"https://{portal.domain}" if portal.domain else ""
    settings = _load_settings(credential_id)
    reference = _reference(credential_id)
    db.session.commit()

    try:
        reader = client_for_portal(portal_id)
        writer = client_for_portal(portal_id, max_retries=0)  # a write is never re-sent blindly (see _write)
    except PortalNeedsReauth as exc:
        for work in works:
            _fail(work, "needs_reauth", str(exc))
        return
    seen: set[str] = set()
    for work in works:
        if work.start:  # only the entity's comments are read
            work.needs = Needs(origin=origin_id(work.facts.kind, work.facts.external_id), phone=None, email=None,
                               duplicates=False, open_entity=False, activity=False)
        else:
            work.needs = lookup_needs(work.facts, settings, crm_mode or CRM_MODE_CLASSIC)
        # Two stages of one communication in one group ("finished" and "lost" of a chat) would both see
        # nothing created yet: the later one waits for the next round, where it finds the first's entity.
        key = work.needs.origin + (":transcript" if work.start else "")
        if key in seen:
            _defer(work, 1, "same_communication")
        seen.add(key)
    works = [w for w in works if not w.status]
    crm_mode = _lookup(reader, works, crm_mode, naive)
    if crm_mode is not None and crm_mode != portal.crm_mode:
        Portal.query.filter_by(id=portal_id).update({"crm_mode": crm_mode})
        db.session.commit()

    pending = []
    for work in works:
        if work.status:
            continue
        lookup = Lookup(crm_mode=crm_mode or CRM_MODE_CLASSIC, existing=work.found.get("existing", {}),
                        duplicates=work.found.get("duplicates", {}), open_entity=work.found.get("open"),
                        written=work.written, fallback_responsible_id=installer,
                        employee_user_id=_employee_user(reference, credential_id, work.facts),
                        active_user_ids=reference.get("active"), b24_fields=reference.get("fields") or {},
                        portal_url=portal_url, start_entity=work.start, comments=work.found.get("comments"))
        try:
            work.plan = plan(work.facts, settings, lookup, lang)
        except Exception as exc:  # noqa: BLE001 - one event's bad data never stops the others
            log.exception("planning event %s failed", work.event_id)
            _fail(work, "internal_error", f"{type(exc).__name__}: {exc}")
            continue
        if work.plan.action == "skip":
            _done(work, EventStatus.SKIPPED, work.plan.reason, {"plan": work.plan.summary})
        elif work.plan.action == "exists":
            ids = {f"{k}_id": v for k, v in (work.plan.summary.get("existing") or {}).items()}
            _done(work, EventStatus.DONE, "already_created", {**ids, "plan": work.plan.summary})
        else:
            pending.append(work)
    if pending:
        _write(writer, pending, naive)


def _origin_commands(works: list[Work]) -> list[tuple[dict, list[Work]]]:
    """ORIGIN_ID checks for up to 50 events in one command per entity type."""
    units = []
    for start in range(0, len(works), MAX_BATCH):
        chunk = works[start:start + MAX_BATCH]
        origins = sorted({w.needs.origin for w in chunk})
        tag = f"o{chunk[0].event_id}"
        by_origin = {"filter": {"ORIGINATOR_ID": ORIGINATOR_ID, "@ORIGIN_ID": origins}, "select": ["ID", "ORIGIN_ID"]}
        commands = {f"{tag}_{e}": (f"crm.{e}.list", by_origin) for e in ("lead", "deal", "contact")}
        activity_origins = sorted({w.needs.origin for w in chunk if w.needs.activity})
        if activity_origins:
            commands[f"{tag}_activity"] = ("crm.activity.list", {
                "filter": {"ORIGINATOR_ID": ORIGINATOR_ID, "@ORIGIN_ID": activity_origins},
                "select": ["ID", "ORIGIN_ID"]})
        units.append((commands, chunk))
    return units


def _event_lookup_commands(work: Work) -> dict:
    """Round one for one event: its chat start's comments and its duplicates by phone/e-mail.

    Nothing here refers to another command's answer: on a real portal a `$result[key][LEAD]` whose key is
    missing resolves to the whole answer (or `[]`), and an empty `@ID` filter is no filter at all.
    """
    needs, tag = work.needs, f"e{work.event_id}"
    commands = {}
    if work.start:
        commands[f"{tag}_tc"] = ("crm.timeline.comment.list", {
            "filter": {"ENTITY_ID": int(work.start["id"]), "ENTITY_TYPE": work.start["type"]},
            "select": ["ID", "COMMENT"], "order": {"ID": "DESC"}})
    for comm, value in (("phone", needs.phone), ("email", needs.email)):
        if value and needs.duplicates:
            commands[f"{tag}_d{comm}"] = ("crm.duplicate.findbycomm", {"type": comm.upper(), "values": [value]})
    return commands


def _open_entity_commands(work: Work) -> dict:
    """Round two for one event: its open deal (by the contacts found) and open lead (by the leads found),
    with the concrete ids round one read; an empty id list sends nothing."""
    if not (work.needs and work.needs.open_entity):
        return {}
    duplicates, tag = work.found.get("duplicates") or {}, f"e{work.event_id}"
    commands = {}
    if duplicates.get("CONTACT"):
        commands[f"{tag}_cdeal"] = ("crm.deal.list", {
            "filter": {"@CONTACT_ID": sorted(duplicates["CONTACT"]), "CLOSED": "N"},
            "select": ["ID", "ASSIGNED_BY_ID"], "order": {"ID": "DESC"}})
    if duplicates.get("LEAD"):
        commands[f"{tag}_llead"] = ("crm.lead.list", {
            "filter": {"@ID": sorted(duplicates["LEAD"]), "STATUS_SEMANTIC_ID": "P"},
            "select": ["ID", "ASSIGNED_BY_ID"], "order": {"ID": "DESC"}})
    return commands


def _send_lookup(client, units: list[tuple[dict, list[Work]]], naive: bool) -> dict:
    """Send lookup units in shared batches; a failure marks only the owners of the failed part."""
    results: dict = {}
    for batch, owners in pack(units, single=naive):
        try:
            answer = _send(client, batch, naive)
        except PortalNeedsReauth as exc:
            for work in owners:
                _fail(work, "needs_reauth", str(exc))
            continue
        except TRANSIENT as exc:
            for work in owners:
                _retry(work, f"{exc}", int(getattr(exc, "retry_after", 0) or 0))
            continue
        except BitrixError as exc:
            for work in owners:
                _fail(work, "bitrix_error", exc.description or str(exc))
            continue
        results.update(answer.results)
        for key, error in answer.errors.items():
            hit = [w for w in owners if key.startswith(f"e{w.event_id}_")] or owners
            for work in hit:
                if isinstance(error, TRANSIENT):
                    _retry(work, f"{error}", 0)
                else:
                    _fail(work, "bitrix_error", error.description or str(error))
    return results


def _lookup(client, works: list[Work], crm_mode: int | None, naive: bool) -> int | None:
    units: list[tuple[dict, list[Work]]] = []
    if crm_mode is None:
        units.append(({"crm_mode": ("crm.settings.mode.get", {})}, []))
    units += _origin_commands(works)
    units += [(c, [w]) for w in works if (c := _event_lookup_commands(w))]
    results = _send_lookup(client, units, naive)
    if "crm_mode" in results:
        with contextlib.suppress(TypeError, ValueError):
            crm_mode = int(results["crm_mode"])
    by_origin: dict[str, dict] = {}
    for key, rows in results.items():
        if key.startswith("o") and "_" in key and isinstance(rows, list):
            entity = key.rsplit("_", 1)[1]
            for row in rows:
                if isinstance(row, dict) and row.get("ORIGIN_ID") and row.get("ID"):
                    by_origin.setdefault(str(row["ORIGIN_ID"]), {}).setdefault(entity, int(row["ID"]))
    for work in works:
        if work.status:
            continue
        tag = f"e{work.event_id}"
        duplicates: dict[str, list[int]] = {}
        for comm in ("phone", "email"):
            hits = results.get(f"{tag}_d{comm}")
            if isinstance(hits, dict):  # no match at all is `[]`
                for kind, ids in hits.items():
                    known = duplicates.setdefault(kind, [])
                    known.extend(i for i in (int(i) for i in ids or []) if i not in known)
        comments = results.get(f"{tag}_tc")
        work.found = {"existing": by_origin.get(work.needs.origin, {}), "duplicates": duplicates, "open": None,
                      "comments": [row.get("COMMENT") for row in comments if isinstance(row, dict)]
                      if isinstance(comments, list) else None}
    # Round two, only for repeats whose duplicates were found: the open deal/lead among those ids.
    second = [(c, [w]) for w in works if not w.status and (c := _open_entity_commands(w))]
    if second:
        results = _send_lookup(client, second, naive)
        for work in works:
            if work.status:
                continue
            tag = f"e{work.event_id}"
            for key, entity in ((f"{tag}_cdeal", "deal"), (f"{tag}_llead", "lead")):
                rows = results.get(key)
                if isinstance(rows, list) and rows and isinstance(rows[0], dict):
                    row = rows[0]
                    work.found["open"] = {"type": entity, "id": int(row["ID"]), "responsible_id":
                                          int(row["ASSIGNED_BY_ID"]) if row.get("ASSIGNED_BY_ID") else None}
                    break
    return crm_mode


def _send(client, batch: dict, naive: bool, halt: bool = False):
    if naive:  # the comparison mode: one plain REST call per command
        from bx_app.bitrix.client import BatchResult

        out = BatchResult()
        for key, (method, params) in batch.items():
            try:
                out.results[key] = client.call(method, resolve(params, out.results)).result
            except (PortalNeedsReauth, *TRANSIENT):
                raise
            except BitrixError as exc:
                out.errors[key] = exc
                if halt:
                    break
        return out
    return client.batch(batch, halt=halt)


def _write(client, works: list[Work], naive: bool) -> None:
    """Write the plans in shared batches. A notification travels only after its entity exists.

    One event alone: one batch with halt (a failed entity stops its notification). Several events: their
    entities share batches without halt (one event's error stays its own), and each notification rides
    in the next batch with the entity's id filled in.
    """
    if len(works) == 1 and not naive:
        work = works[0]
        answer = _send_write(client, prefixed(work.plan.commands, f"e{work.event_id}_"), [work], naive, halt=True)
        if answer is not None:
            _record_write(work, answer, final=True)
        return
    main = [(w, "main", prefixed({k: c for k, c in w.plan.commands.items() if k != "notify"}, f"e{w.event_id}_"))
            for w in works]
    ready: list = []
    while main or ready:
        batch: dict = {}
        owners: list = []
        for queue in (ready, main):
            while queue and len(batch) + len(queue[0][2]) <= MAX_BATCH and not (naive and batch):
                unit = queue.pop(0)
                batch.update(unit[2])
                owners.append(unit)
        if not batch:  # units with no commands (a resumed plan with only a notification left)
            for work, _part, _ in owners:
                ready.extend(_after_main(work, None))
            continue
        answer = _send_write(client, batch, [u[0] for u in owners], naive)
        for work, part, _commands in owners:
            if answer is None or work.status:
                continue
            if part == "main":
                ready.extend(_after_main(work, answer))
            else:
                _record_write(work, answer, final=True)


def _after_main(work: Work, answer) -> list:
    """Record the entity part; hand back the notification unit when it should go now."""
    if answer is not None and not _record_write(work, answer, final="notify" not in work.plan.commands):
        return []
    if "notify" not in work.plan.commands or work.status:
        return []
    notify = resume({"notify": work.plan.commands["notify"]}, work.written or {})
    return [(work, "notify", prefixed(notify, f"e{work.event_id}_"))]


def _send_write(client, batch: dict, owners: list[Work], naive: bool, halt: bool = False):
    for attempt in range(WRITE_LIMIT_RETRIES + 1):
        try:
            return _send(client, batch, naive, halt=halt)
        except QueryLimitExceeded as exc:  # refused by the bucket before running: safe to send again
            if attempt == WRITE_LIMIT_RETRIES:
                for work in owners:
                    _retry(work, f"{exc}", 0)
                return None
            with contextlib.suppress(Exception):
                client.limiter.note_overflow()
            time.sleep(random.uniform(0.5, 1.0) * (2 ** attempt))
        except PortalNeedsReauth as exc:
            for work in owners:
                _fail(work, "needs_reauth", str(exc))
            return None
        except TRANSIENT as exc:
            # 5xx, network, OPERATION_TIME_LIMIT: the batch may or may not have run. Never re-send it
            # blindly; the retry reads ORIGIN_IDs first and writes only what is missing.
            for work in owners:
                _retry(work, f"{exc}", int(getattr(exc, "retry_after", 0) or 0))
            return None
        except BitrixError as exc:
            for work in owners:
                _fail(work, "bitrix_error", exc.description or str(exc))
            return None
    return None


def _record_write(work: Work, answer, final: bool) -> bool:
    """Note what this answer wrote for the event; True when its part went through (journal row when final)."""
    tag = f"e{work.event_id}_"
    written = dict(work.written or {})
    for key in work.plan.commands:
        if tag + key not in answer.results:
            continue
        value = answer.results.get(tag + key)
        if isinstance(value, dict) and "id" in value:
            value = value["id"]
        with contextlib.suppress(TypeError, ValueError):
            value = int(value)
        written[key] = value if value not in (None, False, "") else 0
    work.written = written
    errors = [(k[len(tag):], e) for k, e in answer.errors.items() if k.startswith(tag)]
    ids = {f"{k}_id": v for k, v in written.items() if k in ("lead", "deal", "contact", "activity") and v}
    if work.plan.action == "attach" and work.plan.summary.get("attached_to"):
        attached = work.plan.summary["attached_to"]
        ids.setdefault(f"{attached['type']}_id", attached["id"])
    result = {**ids, "written": written, "plan": work.plan.summary}
    missing = [k for k in work.plan.commands if k not in written and (final or k != "notify")]
    if not errors and not missing:
        if final:
            _done(work, EventStatus.DONE, None, result)
        else:  # the notification follows: a retry must know the entity part is written
            Event.query.filter_by(id=work.event_id).update({"result": {**result, "partial": True}})
            db.session.commit()
        return True
    result["partial"] = True
    Event.query.filter_by(id=work.event_id).update({"result": result})
    db.session.commit()
    part, error = errors[0] if errors else (missing[0], None)
    if error is None or isinstance(error, TRANSIENT):
        _retry(work, f"{part}: {error or 'not written'}", int(getattr(error, "retry_after", 0) or 0))
    else:
        _fail(work, "bitrix_error", error.description or str(error), result)
    return False


# --- the journal --------------------------------------------------------------------------------------
def _done(work: Work, status: str, reason: str | None, result: dict) -> None:
    _finish(work.event_id, status, reason, result=result)
    work.status = status


def _fail(work: Work, reason: str, error: str, result: dict | None = None) -> None:
    _finish(work.event_id, EventStatus.FAILED, reason, result=result, error=error)
    work.status = EventStatus.FAILED


def _retry(work: Work, reason: str, delay: int) -> None:
    if work.status:
        return
    work.status = _schedule_retry(work.event_id, work.attempts, reason, delay)


def _schedule_retry(event_id: int, attempts: int, reason: str, delay: int = 0) -> str:
    if attempts >= MAX_ATTEMPTS:
        _finish(event_id, EventStatus.FAILED, "gave_up", error=reason)
        return EventStatus.FAILED
    delay = max(delay, RETRY_DELAYS[min(attempts - 1, len(RETRY_DELAYS) - 1)])
    _requeue_later(event_id, delay, reason, "retry_scheduled")
    return "retry"


def _requeue_later(event_id: int, delay: int, error: str | None, reason: str) -> None:
    """Back to "new", due in `delay` seconds (the group's end schedules it; the sweeper is the safety net)."""
    event = db.session.get(Event, event_id)
    event.status = EventStatus.NEW
    if error is not None:
        event.last_error = error[:4000]
    event.reason = reason
    event.enqueued_at = utcnow() + timedelta(seconds=delay)
    db.session.commit()
    _retries.setdefault(int(delay), []).append(event_id)


def _defer(work: Work, delay: int, reason: str) -> None:
    """Not now, and not a failure: the event waits (another stage of its chat first); no attempt is spent."""
    if work.status:
        return
    Event.query.filter_by(id=work.event_id).update({"attempts": max(0, work.attempts - 1)})
    _requeue_later(work.event_id, delay, None, reason)
    work.status = "deferred"


# How many events one drain job takes before letting other portals' jobs run, and how many share batches.
DRAIN_BUDGET = 200
DRAIN_CHUNK = 50


def drain_portal(portal_id: int) -> int:
    """Pop this portal's pending events in groups and process each group in shared batches; requeue when more."""
    from bx_app import intake

    redis = redis_connection(current_app.config["REDIS_URL"])
    key, flag = intake.pending_key(portal_id), intake.drain_flag(portal_id)
    done = 0
    while done < DRAIN_BUDGET:
        redis.expire(flag, intake.drain_flag_seconds())
        popped = redis.zpopmin(key, DRAIN_CHUNK)
        if not popped:
            break
        ids = [int(member) for member, _score in popped]
        try:
            process_group(portal_id, ids)
        except Exception:  # noqa: BLE001 - one group's bug never stalls the portal's queue
            log.exception("processing events %s failed", ids)
            db.session.rollback()
            for event_id in ids:
                with contextlib.suppress(Exception):
                    row = db.session.get(Event, event_id)
                    if row is not None and row.status in (EventStatus.NEW, EventStatus.PROCESSING):
                        _finish(event_id, EventStatus.FAILED, "internal_error", error="unexpected error, logged")
        done += len(ids)
    if redis.zcard(key):
        intake.start_drain(portal_id)  # keep the flag: this portal's drain continues after the others
    else:
        redis.delete(flag)
        # An event added between the last pop and the delete must not wait for the sweeper.
        if redis.zcard(key) and redis.set(flag, "1", nx=True, ex=intake.drain_flag_seconds()):
            intake.start_drain(portal_id)
    return done
