"""Read side of the synced reference data, for the settings window and the engine (plain data, no HTTP)."""
from __future__ import annotations

from dataclasses import dataclass

from bx_app.extensions import db
from bx_app.models import Credential, EmployeeLink, ReferenceData

KINDS = ("b24_users", "b24_fields", "b24_sources", "b24_pipelines", "b24_crm_mode", "uis_employees", "uis_channels",
         "uis_sites", "sync_result")


def reference(credential_id: int, kind: str, default=None):
    row = ReferenceData.query.filter_by(credential_id=credential_id, kind=kind).one_or_none()
    return default if row is None or row.data is None else row.data


def synced_at(credential_id: int, kind: str):
    row = ReferenceData.query.filter_by(credential_id=credential_id, kind=kind).one_or_none()
    return row.synced_at if row else None


def b24_users(credential_id: int) -> list[dict]:
    return reference(credential_id, "b24_users", [])


def active_user_ids(credential_id: int) -> set[int] | None:
    """Ids of active Bitrix24 users; None before the first sync (then callers trust stored ids)."""
    users = reference(credential_id, "b24_users")
    if users is None:
        return None
    return {int(u["ID"]) for u in users if u.get("ACTIVE")}


def b24_fields(credential_id: int, entity: str | None = None) -> dict:
    """crm.<entity>.fields as synced ({CODE: meta}); all three entities when entity is None."""
    fields = reference(credential_id, "b24_fields", {})
    return fields if entity is None else fields.get(entity, {})


def employee_user_id(credential_id: int, uis_employee_id: int | None) -> int | None:
    """The Bitrix24 user matched (automatically or by hand) to a UIS employee, or None."""
    if uis_employee_id is None:
        return None
    row = EmployeeLink.query.filter_by(credential_id=credential_id, uis_employee_id=int(uis_employee_id)).one_or_none()
    return row.b24_user_id if row is not None else None


def employee_links(credential_id: int) -> dict[int, EmployeeLink]:
    return {row.uis_employee_id: row for row in EmployeeLink.query.filter_by(credential_id=credential_id)}


def crm_mode(credential_id: int) -> int | None:
    """1 classic, 2 simple (crm.settings.mode.get); the portal's stored mode before the first sync."""
    mode = reference(credential_id, "b24_crm_mode")
    if mode is not None:
        return int(mode)
    credential = db.session.get(Credential, credential_id)
    return credential.portal.crm_mode if credential is not None and credential.portal is not None else None


def sources(credential_id: int) -> list[dict]:
    return reference(credential_id, "b24_sources", [])


def pipelines(credential_id: int) -> list[dict]:
    return reference(credential_id, "b24_pipelines", [])


def uis_employees(credential_id: int) -> list[dict]:
    return reference(credential_id, "uis_employees", [])


def uis_channels(credential_id: int) -> list[dict]:
    return reference(credential_id, "uis_channels", [])


def uis_sites(credential_id: int) -> list[dict]:
    return reference(credential_id, "uis_sites", [])


def last_sync(credential_id: int) -> dict | None:
    return reference(credential_id, "sync_result")


@dataclass(frozen=True)
class PlanningReference:
    """What the planner reads from the last sync, read once per group of events (or per preview)."""

    active_user_ids: frozenset[int] | None     # None before the first sync: stored ids are trusted
    b24_fields: dict                           # {"lead"|"deal"|"contact": {CODE: meta}}
    employee_users: dict[int, int]             # UIS employee id → the matched Bitrix24 user
    known_channel_ids: list[int] | None        # UIS chat channels at the last sync; None before any

    def employee_user(self, uis_employee_id) -> int | None:
        try:
            return self.employee_users.get(int(uis_employee_id)) if uis_employee_id else None
        except (TypeError, ValueError):
            return None


def planning_reference(credential_id: int) -> PlanningReference:
    active = active_user_ids(credential_id)
    fields = b24_fields(credential_id)
    channels = None
    if synced_at(credential_id, "uis_channels") is not None:
        channels = [int(c["id"]) for c in uis_channels(credential_id) if c.get("id") is not None]
    return PlanningReference(
        active_user_ids=frozenset(int(i) for i in active) if active else None,
        b24_fields={entity: (fields.get(entity) or {}) for entity in ("lead", "deal", "contact")},
        employee_users={row.uis_employee_id: row.b24_user_id for row in employee_links(credential_id).values()
                        if row.b24_user_id},
        known_channel_ids=channels)
