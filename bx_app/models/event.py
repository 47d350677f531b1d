"""The event journal: every UIS notification or polled row, its fate, and the poll cursors."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from bx_app.extensions import db
from bx_app.models.timeutil import utcnow


class EventStatus:
    NEW = "new"
    PROCESSING = "processing"
    DONE = "done"
    SKIPPED = "skipped"
    FAILED = "failed"

    ALL = (NEW, PROCESSING, DONE, SKIPPED, FAILED)


class Event(db.Model):
    """One stage of one UIS communication (a request arrived, a chat finished, ...)."""

    __tablename__ = "event"
    __table_args__ = (
        UniqueConstraint("credential_id", "dedupe_key"),
        Index("ix_event_credential_created", "credential_id", "created_at"),
        Index("ix_event_status_updated", "status", "updated_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    credential_id: Mapped[int] = mapped_column(ForeignKey("credential.id"))
    kind: Mapped[str] = mapped_column(String(20))  # offline_message / chat / call
    stage: Mapped[str] = mapped_column(String(20))  # arrived / processed / started / finished
    external_id: Mapped[str] = mapped_column(String(64))
    dedupe_key: Mapped[str] = mapped_column(String(128))
    source: Mapped[str] = mapped_column(String(10))  # push / poll
    payload: Mapped[dict] = mapped_column(JSON, default=dict)
    status: Mapped[str] = mapped_column(String(20), default=EventStatus.NEW)
    reason: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    result: Mapped[dict | None] = mapped_column(JSON)  # created Bitrix24 ids, the plan
    occurred_at: Mapped[datetime | None]
    enqueued_at: Mapped[datetime | None]
    processed_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    credential = relationship("Credential")


class PollCursor(db.Model):
    """How far the Data API poll of one credential and one report has read."""

    __tablename__ = "poll_cursor"
    __table_args__ = (UniqueConstraint("credential_id", "stream"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    credential_id: Mapped[int] = mapped_column(ForeignKey("credential.id"))
    stream: Mapped[str] = mapped_column(String(40))  # offline_messages / offline_processed / chats ...
    cursor_at: Mapped[datetime | None]
    last_run_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
