"""Processing one journal event: gates, one lookup batch, the plan, one write batch, the journal entry."""
from __future__ import annotations

import contextlib
import logging
from datetime import timedelta

from flask import current_app

from bx_app.bitrix.errors import (
    AccessDenied,
    AuthError,
    BitrixError,
    CrmError,
    NetworkError,
    PortalNeedsReauth,
    RateLimited,
    ServerError,
)
from bx_app.extensions import db, redis_connection
from bx_app.integration.planner import ORIGINATOR_ID, EventFacts, Lookup, Plan, origin_id, plan_event
from bx_app.models import Credential, Event, Portal
from bx_app.models.account import PortalStatus
from bx_app.models.event import EventStatus
from bx_app.models.timeutil import utcnow

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 8
RETRY_DELAYS = (15, 30, 60, 120, 300, 600, 1800, 3600)
TRANSIENT = (RateLimited, ServerError, NetworkError)


class RetryLater(Exception):
    def __init__(self, delay: int, reason: str):
        super().__init__(reason)
        self.delay = delay
        self.reason = reason


def _load_settings(credential_id: int) -> dict:
    try:
        from bx_app.settings_store import load_settings
    except ImportError:  # the settings store arrives with the settings window
        return {"main": {"active": True}}
    return load_settings(credential_id)


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


def _lookup_commands(kind: str, external_id: str, need_mode: bool) -> dict:
    origin = origin_id(kind, external_id)
    by_origin = {"filter": {"ORIGINATOR_ID": ORIGINATOR_ID, "ORIGIN_ID": origin}, "select": ["ID"]}
    commands = {
        "lead_by_origin": ("crm.lead.list", by_origin),
        "deal_by_origin": ("crm.deal.list", by_origin),
        "contact_by_origin": ("crm.contact.list", by_origin),
    }
    if need_mode:
        commands["crm_mode"] = ("crm.settings.mode.get", {})
    return commands


def _first_id(rows) -> int | None:
    if isinstance(rows, list) and rows and isinstance(rows[0], dict) and rows[0].get("ID"):
        return int(rows[0]["ID"])
    return None


def _created_ids(plan: Plan, results: dict) -> dict:
    ids = {}
    for key in plan.commands:
        value = results.get(key)
        if isinstance(value, dict) and "item" in value:
            value = value["item"].get("id")
        if value not in (None, False):
            try:
                ids[f"{key}_id"] = int(value)
            except (TypeError, ValueError):
                ids[key] = value
    return ids


def process_event(event_id: int) -> str:
    """Process one event exactly once (a Redis lock keeps two workers off the same row)."""
    lock = redis_connection().lock(f"bx:event-lock:{event_id}", timeout=current_app.config["EVENT_LOCK_SECONDS"],
                                   blocking_timeout=0)
    if not lock.acquire(blocking=False):
        return "locked"
    try:
        return _process_locked(event_id)
    finally:
        with contextlib.suppress(Exception):  # an expired lock is fine to lose
            lock.release()


def _process_locked(event_id: int) -> str:
    event = db.session.get(Event, event_id)
    if event is None:
        return "missing"
    if event.status in (EventStatus.DONE, EventStatus.SKIPPED):
        return event.status
    credential = db.session.get(Credential, event.credential_id)
    portal = db.session.get(Portal, credential.portal_id)
    if portal.status == PortalStatus.UNINSTALLED:
        _finish(event_id, EventStatus.FAILED, "portal_uninstalled")
        return EventStatus.FAILED
    if portal.status == PortalStatus.NEEDS_REAUTH:
        _finish(event_id, EventStatus.FAILED, "needs_reauth", error=portal.status_reason)
        return EventStatus.FAILED

    if event.source == "push" and event.kind == "offline_message":
        from bx_app.enrichment import enrich_offline_message

        # The notification carries a few fields; the Data API row adds form, page, campaign and UTM.
        if enrich_offline_message(event.id):
            event = db.session.get(Event, event_id)
    settings = _load_settings(credential.id)
    facts = EventFacts(id=event.id, kind=event.kind, stage=event.stage, external_id=event.external_id,
                       payload=dict(event.payload or {}), occurred_at=event.occurred_at)
    gate = plan_event(facts, settings, Lookup())
    if gate.action == "skip":
        _finish(event_id, EventStatus.SKIPPED, gate.reason)
        return EventStatus.SKIPPED

    portal_id, crm_mode, lang, installer = portal.id, portal.crm_mode, portal.lang, portal.installer_user_id
    event.status = EventStatus.PROCESSING
    event.attempts = (event.attempts or 0) + 1
    attempts = event.attempts
    db.session.commit()  # no transaction stays open across the Bitrix24 calls below

    try:
        plan, ids = _execute(portal_id, facts, settings, crm_mode, lang, installer)
    except RetryLater as retry:
        return _schedule_retry(event_id, attempts, retry.reason, retry.delay)
    except PortalNeedsReauth as exc:
        _finish(event_id, EventStatus.FAILED, "needs_reauth", error=str(exc))
        return EventStatus.FAILED
    except TRANSIENT as exc:
        delay = int(getattr(exc, "retry_after", 0) or 0)
        return _schedule_retry(event_id, attempts, f"{exc}", delay)
    except (CrmError, AccessDenied, AuthError, BitrixError) as exc:
        _finish(event_id, EventStatus.FAILED, "bitrix_error", error=exc.description or str(exc))
        return EventStatus.FAILED

    if plan.action == "exists":
        _finish(event_id, EventStatus.DONE, "already_created", result={**ids, "plan": plan.summary})
    else:
        _finish(event_id, EventStatus.DONE, None, result={**ids, "plan": plan.summary})
    return EventStatus.DONE


def _execute(portal_id: int, facts: EventFacts, settings: dict, crm_mode: int | None, lang: str,
             installer: int | None) -> tuple[Plan, dict]:
    from bx_app.portal_auth import client_for_portal

    client = client_for_portal(portal_id)
    found = client.batch(_lookup_commands(facts.kind, facts.external_id, crm_mode is None))
    for key, error in found.errors.items():
        if isinstance(error, TRANSIENT) or key == "crm_mode":
            raise error
    if crm_mode is None:
        crm_mode = int(found.results.get("crm_mode") or 1)
        Portal.query.filter_by(id=portal_id).update({"crm_mode": crm_mode})
        db.session.commit()
    existing = {}
    for entity in ("lead", "deal", "contact"):
        entity_id = _first_id(found.results.get(f"{entity}_by_origin"))
        if entity_id:
            existing[entity] = entity_id
    lookup = Lookup(crm_mode=crm_mode, existing=existing, fallback_responsible_id=installer)
    plan = plan_event(facts, settings, lookup, lang)
    if plan.action == "exists":
        return plan, {f"{k}_id": v for k, v in existing.items() if k in ("lead", "deal")}
    written = client.batch(plan.commands, halt=True)
    if written.errors:
        key, error = next(iter(written.errors.items()))
        if isinstance(error, TRANSIENT):
            raise error
        raise error
    return plan, _created_ids(plan, written.results)


def _schedule_retry(event_id: int, attempts: int, reason: str, delay: int = 0) -> str:
    if attempts >= MAX_ATTEMPTS:
        _finish(event_id, EventStatus.FAILED, "gave_up", error=reason)
        return EventStatus.FAILED
    delay = max(delay, RETRY_DELAYS[min(attempts - 1, len(RETRY_DELAYS) - 1)])
    event = db.session.get(Event, event_id)
    event.status = EventStatus.NEW
    event.last_error = reason[:4000]
    event.reason = "retry_scheduled"
    db.session.commit()
    try:
        from bx_app import jobs

        jobs.queue(jobs.QUEUE_EVENTS).enqueue_in(timedelta(seconds=delay), "bx_app.jobs.process_event", event_id)
        Event.query.filter_by(id=event_id).update({"enqueued_at": utcnow() + timedelta(seconds=delay)})
        db.session.commit()
    except Exception as exc:  # noqa: BLE001 - the sweeper picks the row up
        log.warning("cannot schedule retry of event %s: %s", event_id, exc)
    return "retry"


# How many events one drain job takes before letting other portals' jobs run.
DRAIN_BUDGET = 100
DRAIN_CHUNK = 25


def drain_portal(portal_id: int) -> int:
    """Pop this portal's pending events in chunks and process them; requeue itself when more remain."""
    from bx_app import intake

    redis = redis_connection(current_app.config["REDIS_URL"])
    key, flag = intake.pending_key(portal_id), intake.drain_flag(portal_id)
    done = 0
    while done < DRAIN_BUDGET:
        redis.expire(flag, intake.DRAIN_FLAG_SECONDS)
        popped = redis.zpopmin(key, DRAIN_CHUNK)
        if not popped:
            break
        for member, _score in popped:
            event_id = int(member)
            try:
                process_event(event_id)
            except Exception:  # noqa: BLE001 - one event's bug never stalls the portal's queue
                log.exception("processing event %s failed", event_id)
                with contextlib.suppress(Exception):
                    _finish(event_id, EventStatus.FAILED, "internal_error", error="unexpected error, logged")
            done += 1
    if redis.zcard(key):
        intake.start_drain(portal_id)  # keep the flag: this portal's drain continues after the others
    else:
        redis.delete(flag)
        # An event added between the last pop and the delete must not wait for the sweeper.
        if redis.zcard(key) and redis.set(flag, "1", nx=True, ex=intake.DRAIN_FLAG_SECONDS):
            intake.start_drain(portal_id)
    return done
