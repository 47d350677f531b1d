"""Sandbox portals served over HTTP, connected to the app's database: one credential each on one UIS account."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import requests

from bx_app.extensions import db
from bx_app.models import Credential, Portal, UisAccount
from bx_app.models.account import PortalStatus
from bx_app.models.timeutil import utcnow
from bx_app.settings_store import save_channel

SANDBOX_UIS_APP_ID = 1103425
SANDBOX_UIS_TOKEN = "sandbox-uis-token"


@dataclass(frozen=True)
class ConnectedPortal:
    url: str  # the sandbox portal's base URL, http://127.0.0.1:<port>
    portal_id: int
    credential_id: int
    hook_url: str  # where UIS pushes this credential's notifications


def add_sandbox_portals(oauth_url: str, count: int) -> list[str]:
    """`POST /sandbox/portals` on a running sandbox's OAuth server: `count` more portals, their base URLs."""
    reply = requests.post(f"{oauth_url}/sandbox/portals", json={"count": count}, timeout=60)
    reply.raise_for_status()
    return [p["url"].rstrip("/") for p in reply.json()["portals"]]


def sandbox_uis_account(timezone: str = "Europe/Moscow") -> UisAccount:
    """The sandbox UIS's account (its Data API answers this token), stored once. Needs an app context."""
    account = UisAccount.query.filter_by(app_id=SANDBOX_UIS_APP_ID).one_or_none()
    if account is None:
        account = UisAccount(app_id=SANDBOX_UIS_APP_ID, name="ООО «Пример»", data_api_token=SANDBOX_UIS_TOKEN,
                             timezone=timezone)
        db.session.add(account)
        db.session.commit()
    return account


def connect_portal(portal_url: str, account: UisAccount, public_url: str, *, name: str | None = None,
                   installer_user_id: int = 1) -> ConnectedPortal:
    """Install the app on a running sandbox portal (quietly: no installer page), take a token pair for the
    installer and store the portal and its credential as the install and the UIS-side claim would, with
    the master switch on. Needs an app context on the database the app under test uses."""
    reply = requests.post(f"{portal_url}/sandbox/control",
                          json={"install": True, "issue_tokens": {"user_id": installer_user_id}}, timeout=30)
    reply.raise_for_status()
    tokens = reply.json()["tokens"]
    domain = portal_url.split("://", 1)[1]
    portal = Portal(member_id=tokens["member_id"], domain=domain, client_endpoint=tokens["client_endpoint"],
                    access_token=tokens["access_token"], refresh_token=tokens["refresh_token"],
                    expires_at=utcnow() + timedelta(seconds=int(tokens["expires_in"])),
                    status=PortalStatus.INSTALLED, installer_user_id=installer_user_id, installed_at=utcnow())
    credential = Credential(name=name or domain, portal=portal, uis_account=account)
    db.session.add_all([portal, credential])
    db.session.commit()
    save_channel(credential.id, "main", True, {"default_responsible_id": installer_user_id})
    return ConnectedPortal(url=portal_url, portal_id=portal.id, credential_id=credential.id,
                           hook_url=f"{public_url.rstrip('/')}/hooks/uis/{credential.hook_token}")
