"""Who is looking: a portal user in the iframe or a UIS account on the UIS side, and what they may see."""
from __future__ import annotations

from dataclasses import dataclass

from flask import abort, g, session
from flask_babel import gettext as _

from bx_app.extensions import db
from bx_app.models import Credential


@dataclass(frozen=True)
class Viewer:
    """The same settings and journal pages serve both sides; only the visible credentials differ."""

    side: str  # "portal" (inside the Bitrix24 iframe) or "uis" (the UIS side)
    portal_id: int | None = None
    uis_account_id: int | None = None
    can_edit: bool = False

    @property
    def layout(self) -> str:
        return "base_app.html" if self.side == "portal" else "base_uis.html"

    def credentials_query(self):
        query = Credential.query
        if self.side == "portal":
            return query.filter(Credential.portal_id == self.portal_id)
        return query.filter(Credential.uis_account_id == self.uis_account_id)

    def credentials(self) -> list[Credential]:
        return self.credentials_query().order_by(Credential.id).all()

    def credential(self, credential_id: int) -> Credential:
        """The credential if this viewer may see it; 404 otherwise (never reveal another's)."""
        credential = db.session.get(Credential, credential_id)
        visible = credential is not None and (
            (self.side == "portal" and credential.portal_id == self.portal_id)
            or (self.side == "uis" and credential.uis_account_id == self.uis_account_id)
        )
        if not visible:
            abort(404, description=_("Учётные данные не найдены."))
        return credential

    def require_edit(self) -> None:
        if not self.can_edit:
            abort(403, description=_("Изменять настройки могут только администраторы портала."))


def current_viewer() -> Viewer:
    """The viewer of this request, or 401 when neither an iframe session nor a UIS sign-in exists."""
    if getattr(session, "from_token", False) and session.get("portal_id"):
        g.portal_lang = session.get("lang")
        return Viewer("portal", portal_id=session["portal_id"], can_edit=bool(session.get("admin")))
    if session.get("uis_account_id"):
        return Viewer("uis", uis_account_id=session["uis_account_id"], can_edit=True)
    if g.get("app_session_invalid"):
        abort(401, description=_("Сессия приложения истекла. Откройте приложение из портала заново."))
    abort(401, description=_("Войдите на стороне UIS или откройте приложение из портала Bitrix24."))
