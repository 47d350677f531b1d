"""Small builders shared by the page tests: a portal with its credential, an iframe session token."""
from __future__ import annotations

from bx_app.extensions import db
from bx_app.models import Credential, Portal, UisAccount
from bx_app.models.account import PortalStatus
from bx_app.web.app_session import issue_token


def example_credential() -> Credential:
    """The reference's example portal (example.bitrix24.ru), installed, with its credential."""
    portal = Portal(member_id="e31ab643c44f7a0ec824b59d1194d60d", domain="example.bitrix24.ru",
                    client_endpoint="https://example.bitrix24.ru/rest/", status="installed")
    credential = Credential(name="example", portal=portal)
    db.session.add_all([portal, credential])
    db.session.commit()
    return credential


def make_credential(n: int, account: UisAccount | None = None, installer: int | None = 7) -> Credential:
    portal = Portal(member_id=f"member{n}", domain=f"p{n}.bitrix24.ru",
                    client_endpoint=f"https://p{n}.bitrix24.ru/rest/", status=PortalStatus.INSTALLED,
                    installer_user_id=installer)
    db.session.add(portal)
    db.session.flush()
    credential = Credential(name=f"Портал {n}", portal_id=portal.id, uis_account=account)
    db.session.add(credential)
    db.session.commit()
    return credential


def two_accounts() -> dict:
    """Account 601 with credential "mine" and account 602 with "other": for visibility tests."""
    account = UisAccount(app_id=601, name="Аккаунт")
    other_account = UisAccount(app_id=602, name="Чужой")
    db.session.add_all([account, other_account])
    db.session.commit()
    return {"account": account, "mine": make_credential(1, account), "other": make_credential(2, other_account)}


def portal_token(app, credential: Credential, admin: bool = True, **extra) -> str:
    """An iframe session for the credential's portal, as a verified POST /app would issue it."""
    return issue_token(app, {"portal_id": credential.portal_id, "admin": admin, "lang": "ru", "user_id": 1, **extra})
