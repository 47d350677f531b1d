"""Reference data cached per credential by the sync (Bitrix24 users, fields, pipelines; UIS employees…) and employee links."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from bx_app.extensions import db
from bx_app.models.timeutil import utcnow


class ReferenceData(db.Model):
    """One synced list of one credential (kind: b24_users, b24_fields, uis_employees, …) as plain JSON."""

    __tablename__ = "reference_data"
    __table_args__ = (UniqueConstraint("credential_id", "kind"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    credential_id: Mapped[int] = mapped_column(ForeignKey("credential.id"), index=True)
    kind: Mapped[str] = mapped_column(String(40))
    data: Mapped[dict | list | None] = mapped_column(JSON)
    synced_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class EmployeeLink(db.Model):
    """A UIS employee and the Bitrix24 user it stands for: matched by name ("auto"), set by hand ("manual"), or why not."""

    __tablename__ = "employee_link"
    __table_args__ = (UniqueConstraint("credential_id", "uis_employee_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    credential_id: Mapped[int] = mapped_column(ForeignKey("credential.id"), index=True)
    uis_employee_id: Mapped[int]
    uis_name: Mapped[str] = mapped_column(String(255), default="")
    b24_user_id: Mapped[int | None]
    how: Mapped[str | None] = mapped_column(String(10))  # auto / manual / None (unmatched)
    reason: Mapped[str | None] = mapped_column(String(40))  # no_last_name / ambiguous / inactive / no_candidate …
    candidates: Mapped[list | None] = mapped_column(JSON)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
