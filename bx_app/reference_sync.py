"""Manual and scheduled sync (M1): fetch a credential's Bitrix24 and UIS reference data, store it, re-match employees."""
from __future__ import annotations

import contextlib
import logging
from datetime import UTC, datetime

from flask import current_app
from redis.exceptions import LockError, RedisError

from bx_app import progress, queues
from bx_app.extensions import db, redis_connection
from bx_app.integration.employees import match_employees
from bx_app.models import Credential, EmployeeLink, Portal, ReferenceData
from bx_app.models.account import PortalStatus
from bx_app.portal_auth import client_for_portal
from bx_app.reference_data import reference
from bx_app.uis.client import DataApiClient

log = logging.getLogger(__name__)

TASK_KIND = "reference_sync"
# The scheduled sync of every installed credential (M1).
SCHEDULE_SECONDS = 30 * 60
# Steps as the progress bar counts them; the page words them (message = the step's code).
STEPS = ("bitrix", "users", "uis_employees", "uis_channels", "uis_sites", "lines", "matching")
USER_KEYS = ("ID", "ACTIVE", "NAME", "LAST_NAME", "SECOND_NAME", "EMAIL", "WORK_POSITION")
PAGE = 50
MAX_USER_PAGES_IN_BATCH = 49


def scope_of(credential_id: int) -> str:
    return f"credential:{credential_id}"


def store(credential_id: int, kind: str, data) -> None:
    row = ReferenceData.query.filter_by(credential_id=credential_id, kind=kind).one_or_none()
    if row is None:
        row = ReferenceData(credential_id=credential_id, kind=kind)
        db.session.add(row)
    row.data = data
    row.synced_at = datetime.now(UTC).replace(tzinfo=None)


def _slim_user(user: dict) -> dict:
    slim = {key: user.get(key) for key in USER_KEYS}
    active = user.get("ACTIVE", True)
    slim["ACTIVE"] = active is True or str(active).upper() in ("Y", "TRUE", "1")
    return slim


def _pipelines(categories_result, statuses: list[dict]) -> list[dict]:
    categories = categories_result.get("categories") if isinstance(categories_result, dict) else categories_result
    categories = sorted(categories or [{"id": 0, "name": "", "sort": 0}], key=lambda c: int(c.get("sort") or 0))
    pipelines = []
    for category in categories:
        cid = int(category.get("id") or 0)
        entity = "DEAL_STAGE" if cid == 0 else f"DEAL_STAGE_{cid}"
        stages = sorted((s for s in statuses if s.get("ENTITY_ID") == entity), key=lambda s: int(s.get("SORT") or 0))
        pipelines.append({"id": cid, "name": category.get("name") or "",
                          "stages": [{"id": s["STATUS_ID"], "name": s.get("NAME") or s["STATUS_ID"],
                                      "semantics": s.get("SEMANTICS")} for s in stages]})
    return pipelines


def sync_bitrix(credential: Credential, counts: dict, task_id: str | None) -> None:
    """Everything from the portal in one batch (plus one more for users beyond the first 50)."""
    client = client_for_portal(credential.portal_id)
    answer = client.batch({
        "users": ("user.get", {"start": 0}),
        "lead_fields": ("crm.lead.fields", {}),
        "deal_fields": ("crm.deal.fields", {}),
        "contact_fields": ("crm.contact.fields", {}),
        "statuses": ("crm.status.list", {"order": {"SORT": "ASC"}}),
        "categories": ("crm.category.list", {"entityTypeId": 2}),
        "mode": ("crm.settings.mode.get", {}),
        "lines": ("telephony.externalLine.get", {}),
    })
    fields = {entity: answer.raise_for(f"{entity}_fields") for entity in ("lead", "deal", "contact")}
    statuses = answer.raise_for("statuses") or []
    sources = [{"id": s["STATUS_ID"], "name": s.get("NAME") or s["STATUS_ID"]}
               for s in statuses if s.get("ENTITY_ID") == "SOURCE"]
    pipelines = _pipelines(answer.results.get("categories") or [], statuses)
    mode = answer.results.get("mode")
    users = list(answer.raise_for("users") or [])
    lines = answer.results.get("lines")
    store(credential.id, "b24_lines", [{"NUMBER": str(line.get("NUMBER")), "NAME": line.get("NAME")}
                                       for line in lines if isinstance(line, dict)] if isinstance(lines, list) else None)
    store(credential.id, "b24_fields", fields)
    store(credential.id, "b24_sources", sources)
    store(credential.id, "b24_pipelines", pipelines)
    if mode in (1, 2, "1", "2"):
        store(credential.id, "b24_crm_mode", int(mode))
        portal = db.session.get(Portal, credential.portal_id)
        portal.crm_mode = int(mode)
    db.session.commit()
    counts.update(fields=sum(len(f) for f in fields.values()),
                  custom_fields=sum(1 for f in fields.values() for code in f if code.startswith("UF_CRM_")),
                  sources=len(sources), pipelines=len(pipelines), crm_mode=int(mode) if mode else None)
    _step(task_id, "users", counts)
    total = answer.totals.get("users") or len(users)
    if total > len(users):
        starts = list(range(PAGE, total, PAGE))
        first, rest = starts[:MAX_USER_PAGES_IN_BATCH], starts[MAX_USER_PAGES_IN_BATCH:]
        pages = client.batch({f"u{start}": ("user.get", {"start": start}) for start in first})
        for start in first:
            users.extend(pages.raise_for(f"u{start}") or [])
        for start in rest:  # more than 2500 users: plain paging
            users.extend(client.call("user.get", {"start": start}).result or [])
    store(credential.id, "b24_users", [_slim_user(u) for u in users])
    db.session.commit()
    counts["users"] = len(users)
    counts["active_users"] = sum(1 for u in users if _slim_user(u)["ACTIVE"])


def sync_uis(credential: Credential, counts: dict, task_id: str | None, client=None) -> None:
    account = credential.uis_account
    if client is None:
        client = DataApiClient(current_app.config["UIS_DATA_API_URL"], account.data_api_token,
                               timezone=account.timezone)
    _step(task_id, "uis_employees", counts)
    employees = client.get_employees(["id", "first_name", "last_name", "patronymic", "full_name", "email",
                                      "status"])
    store(credential.id, "uis_employees", [{k: e.get(k) for k in ("id", "first_name", "last_name", "patronymic",
                                                                   "full_name", "email", "status")}
                                           for e in employees])
    db.session.commit()
    counts["uis_employees"] = len(employees)
    _step(task_id, "uis_channels", counts)
    channels = client.get_chat_channels()
    store(credential.id, "uis_channels", [{k: c.get(k) for k in ("id", "name", "type", "status")} for c in channels])
    db.session.commit()
    counts["uis_channels"] = len(channels)
    _step(task_id, "uis_sites", counts)
    sites = client.get_sites(["id", "domain_name", "name"])
    store(credential.id, "uis_sites", [{k: s.get(k) for k in ("id", "domain_name", "name")} for s in sites])
    db.session.commit()
    counts["uis_sites"] = len(sites)
    numbers = client.get_virtual_numbers(["id", "virtual_phone_number", "name", "status"])
    store(credential.id, "uis_virtual_numbers", [{k: n.get(k) for k in ("id", "virtual_phone_number", "name",
                                                                         "status")} for n in numbers])
    db.session.commit()
    counts["uis_virtual_numbers"] = len(numbers)


def sync_lines(credential: Credential, counts: dict) -> None:
    """An external line in Bitrix24 telephony per UIS virtual number (the calls' LINE_NUMBER): the missing
    ones added, names kept as UIS has them; lines the app did not make are left alone."""
    numbers = {str(n["virtual_phone_number"]): n for n in reference(credential.id, "uis_virtual_numbers")
               or [] if n.get("virtual_phone_number")}
    if not numbers:
        counts["lines_added"] = 0
        return
    known = reference(credential.id, "b24_lines")
    if known is None:
        raise RuntimeError("telephony.externalLine.get did not answer (is the telephony scope granted?)")
    existing = {line["NUMBER"]: line for line in known}
    commands = {}
    for number, row in sorted(numbers.items()):
        name = row.get("name") or f"UIS {number}"
        if number not in existing:
            commands[f"add{number}"] = ("telephony.externalLine.add", {"NUMBER": number, "NAME": name,
                                                                       "CRM_AUTO_CREATE": "N"})
        elif existing[number].get("NAME") != name:
            commands[f"upd{number}"] = ("telephony.externalLine.update", {"NUMBER": number, "NAME": name})
    if commands:
        answer = client_for_portal(credential.portal_id).batch(dict(list(commands.items())[:50]))
        if answer.errors:
            raise RuntimeError("; ".join(f"{k}: {e}" for k, e in answer.errors.items()))
    counts["lines_added"] = sum(1 for k in commands if k.startswith("add"))


def rematch(credential_id: int) -> dict:
    """Match the stored UIS employees to the stored Bitrix24 users again; manual links are kept as they are."""
    employees = reference(credential_id, "uis_employees", [])
    users = reference(credential_id, "b24_users", [])
    rows = {row.uis_employee_id: row for row in EmployeeLink.query.filter_by(credential_id=credential_id)}
    manual = {eid: row.b24_user_id for eid, row in rows.items() if row.how == "manual"}
    matches = match_employees(employees, users, manual)
    for match in matches:
        row = rows.get(match["uis_employee_id"])
        if row is None:
            row = EmployeeLink(credential_id=credential_id, uis_employee_id=match["uis_employee_id"])
            db.session.add(row)
        row.uis_name = match["uis_name"][:255]
        row.b24_user_id = match["b24_user_id"]
        row.how = match["how"]
        row.reason = match["reason"]
        row.candidates = match["candidates"]
    present = {m["uis_employee_id"] for m in matches}
    for eid, row in rows.items():
        if eid not in present and row.how != "manual":
            db.session.delete(row)
    db.session.commit()
    return {"matched": sum(1 for m in matches if m["b24_user_id"] and not m["reason"]),
            "unmatched": sum(1 for m in matches if not m["b24_user_id"] or m["reason"])}


def set_employee_link(credential_id: int, uis_employee_id: int, b24_user_id: int | None) -> None:
    """A manual match (or, with None, back to automatic matching); survives later syncs."""
    row = EmployeeLink.query.filter_by(credential_id=credential_id, uis_employee_id=uis_employee_id).one_or_none()
    if row is None:
        row = EmployeeLink(credential_id=credential_id, uis_employee_id=uis_employee_id)
        db.session.add(row)
    row.how = "manual" if b24_user_id is not None else None
    row.b24_user_id = b24_user_id
    db.session.commit()
    rematch(credential_id)


def _step(task_id: str | None, step: str, counts: dict) -> None:
    if task_id is None:
        return
    with contextlib.suppress(RedisError):  # progress is a courtesy: Redis trouble never stops the sync
        progress.update(task_id, state=progress.RUNNING, done=STEPS.index(step), total=len(STEPS), message=step)


def sync_credential(credential_id: int, task_id: str | None = None) -> dict:
    """Sync one credential's reference data; returns {counts, errors} (also stored as kind "sync_result")."""
    lock = redis_connection().lock(f"bx:sync-lock:{credential_id}", timeout=900, blocking_timeout=0)
    if not lock.acquire(blocking=False):
        if task_id:
            progress.fail(task_id, "already_running")
        return {"skipped": "already running"}
    try:
        return _sync_locked(credential_id, task_id)
    finally:
        with contextlib.suppress(LockError, RedisError):  # expired, or Redis gone: its timeout frees it
            lock.release()


def _sync_locked(credential_id: int, task_id: str | None) -> dict:
    credential = db.session.get(Credential, credential_id)
    if credential is None:
        if task_id:
            progress.fail(task_id, "no_credential")
        return {"skipped": "no credential"}
    counts: dict = {}
    errors: dict = {}
    _step(task_id, "bitrix", counts)
    try:
        sync_bitrix(credential, counts, task_id)
    except Exception as exc:  # noqa: BLE001 - one side's trouble is reported, the other side still syncs
        db.session.rollback()
        log.warning("Bitrix24 sync of credential %s failed: %s", credential_id, exc)
        errors["bitrix"] = str(exc)[:500] or exc.__class__.__name__
    credential = db.session.get(Credential, credential_id)
    if credential.uis_account is None or not credential.uis_account.data_api_token:
        errors["uis"] = "no_uis_account"
    else:
        try:
            sync_uis(credential, counts, task_id)
        except Exception as exc:  # noqa: BLE001
            db.session.rollback()
            log.warning("UIS sync of credential %s failed: %s", credential_id, exc)
            errors["uis"] = str(exc)[:500] or exc.__class__.__name__
    _step(task_id, "lines", counts)
    if "bitrix" not in errors and "uis" not in errors:
        try:
            sync_lines(db.session.get(Credential, credential_id), counts)
        except Exception as exc:  # noqa: BLE001 - reported with the others
            db.session.rollback()
            log.warning("external lines of credential %s failed: %s", credential_id, exc)
            errors["lines"] = str(exc)[:500] or exc.__class__.__name__
    _step(task_id, "matching", counts)
    counts.update(rematch(credential_id))
    result = {"finished_at": datetime.now(UTC).isoformat(timespec="seconds"), "counts": counts, "errors": errors}
    store(credential_id, "sync_result", result)
    db.session.commit()
    if task_id:
        with contextlib.suppress(RedisError):  # progress is a courtesy
            if errors.get("bitrix") and errors.get("uis") and errors["uis"] != "no_uis_account":
                progress.fail(task_id, "; ".join(errors.values()))
            else:
                progress.finish(task_id, "")
    return result


def start_sync(credential_id: int) -> str:
    """Queue a sync of the credential with a progress task (or return the one that is running)."""
    scope = scope_of(credential_id)
    running = progress.latest(scope, TASK_KIND)
    if progress.is_running(running):
        return running["id"]
    task_id = progress.start_task(TASK_KIND, scope, total=len(STEPS))
    progress.remember(scope, TASK_KIND, task_id)
    queues.sync_credential(credential_id, task_id)
    return task_id


def syncable_credential_ids() -> list[int]:
    return [c.id for c in Credential.query.join(Portal).filter(Portal.status == PortalStatus.INSTALLED)
            .order_by(Credential.id)]
