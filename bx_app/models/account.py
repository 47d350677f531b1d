"""Portals, UIS accounts and the credentials that connect one to the other."""
from __future__ import annotations

import secrets
from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from bx_app.extensions import db
from bx_app.models.encrypted import EncryptedText
from bx_app.models.timeutil import utcnow


class PortalStatus:
    PENDING = "pending"  # install started, installFinish not yet confirmed
    INSTALLED = "installed"
    UNINSTALLED = "uninstalled"
    NEEDS_REAUTH = "needs_reauth"


class Portal(db.Model):
    """A Bitrix24 portal that installed the app, with its OAuth tokens (encrypted)."""

    __tablename__ = "portal"

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[str] = mapped_column(String(64), unique=True)
    domain: Mapped[str] = mapped_column(String(255), index=True)
    client_endpoint: Mapped[str] = mapped_column(String(512))
    server_endpoint: Mapped[str | None] = mapped_column(String(512))
    access_token: Mapped[str | None] = mapped_column(EncryptedText)
    refresh_token: Mapped[str | None] = mapped_column(EncryptedText)
    expires_at: Mapped[datetime | None]
    application_token: Mapped[str | None] = mapped_column(String(64))
    scope: Mapped[str | None] = mapped_column(String(512))
    status: Mapped[str] = mapped_column(String(20), default=PortalStatus.PENDING)
    status_reason: Mapped[str | None] = mapped_column(String(1000))
    lang: Mapped[str] = mapped_column(String(8), default="ru")
    crm_mode: Mapped[int | None]  # 1 classic, 2 simple (crm.settings.mode.get)
    installer_user_id: Mapped[int | None]
    # The portal's leaky bucket (2 req/s, 50 burst on most plans; Enterprise 5 and 250).
    rate_per_second: Mapped[float] = mapped_column(default=2.0)
    bucket_size: Mapped[int] = mapped_column(default=50)
    installed_at: Mapped[datetime | None]
    uninstalled_at: Mapped[datetime | None]
    token_refreshed_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    credential: Mapped[Credential | None] = relationship(back_populates="portal", uselist=False)

    @property
    def is_active(self) -> bool:
        return self.status == PortalStatus.INSTALLED

    @property
    def portal_url(self) -> str:
        return self.client_endpoint.rsplit("/rest/", 1)[0]

    def __repr__(self) -> str:
        return f"<Portal {self.member_id} {self.domain} {self.status}>"


class UisAccount(db.Model):
    """A UIS account on the UIS side, signed in with its Data API token (encrypted)."""

    __tablename__ = "uis_account"

    id: Mapped[int] = mapped_column(primary_key=True)
    app_id: Mapped[int] = mapped_column(unique=True)  # UIS account id (get.account app_id)
    name: Mapped[str] = mapped_column(String(255), default="")
    timezone: Mapped[str] = mapped_column(String(64), default="Europe/Moscow")
    data_api_token: Mapped[str | None] = mapped_column(EncryptedText)
    status: Mapped[str] = mapped_column(String(20), default="ok")  # ok / token_invalid / ip_denied / limited
    status_reason: Mapped[str | None] = mapped_column(String(1000))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    credentials: Mapped[list[Credential]] = relationship(back_populates="uis_account")


def new_hook_token() -> str:
    return secrets.token_urlsafe(24)


class Credential(db.Model):
    """"Учетные данные": one UIS account connected to one Bitrix24 portal."""

    __tablename__ = "credential"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(255))
    portal_id: Mapped[int] = mapped_column(ForeignKey("portal.id"), unique=True)
    uis_account_id: Mapped[int | None] = mapped_column(ForeignKey("uis_account.id"), index=True)
    hook_token: Mapped[str] = mapped_column(String(64), unique=True, default=new_hook_token)
    origin: Mapped[str] = mapped_column(String(20), default="marketplace")  # marketplace / uis
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    portal: Mapped[Portal] = relationship(back_populates="credential")
    uis_account: Mapped[UisAccount | None] = relationship(back_populates="credentials")

    def __repr__(self) -> str:
        return f"<Credential {self.id} {self.name!r}>"


class InstallClaim(db.Model):
    """A single-use claim that lets a UIS account take over a marketplace-installed credential (I2)."""

    __tablename__ = "install_claim"

    id: Mapped[int] = mapped_column(primary_key=True)
    nonce: Mapped[str] = mapped_column(String(64), unique=True)
    credential_id: Mapped[int] = mapped_column(ForeignKey("credential.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    used_at: Mapped[datetime | None]
    used_by_account_id: Mapped[int | None] = mapped_column(ForeignKey("uis_account.id"))
