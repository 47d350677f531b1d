"""Read side of the synced reference data, for the settings window and the engine (plain data, no HTTP)."""
from __future__ import annotations

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
