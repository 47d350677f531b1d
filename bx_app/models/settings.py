"""Per-credential, per-channel settings stored as validated plain data the engine can read."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from bx_app.extensions import db
from bx_app.models.timeutil import utcnow

CHANNELS = ("main", "chats", "offline", "calls")


class ChannelSettings(db.Model):
    """One tab of the settings window for one credential: its active flag and its options."""

    __tablename__ = "channel_settings"
    __table_args__ = (UniqueConstraint("credential_id", "channel"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    credential_id: Mapped[int] = mapped_column(ForeignKey("credential.id"), index=True)
    channel: Mapped[str] = mapped_column(String(20))
    active: Mapped[bool] = mapped_column(default=False)
    options: Mapped[dict] = mapped_column(JSON, default=dict)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
