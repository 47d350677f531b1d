"""The one row of tabs a credential's pages share on both sides, and the page helpers templates call."""
from __future__ import annotations

from dataclasses import dataclass

from flask import Flask, session, url_for
from flask_babel import lazy_gettext as _l

from bx_app.integration import filters, titles
from bx_app.models import Credential


@dataclass(frozen=True)
class Tab:
    key: str
    label: str
    url: str


def _on_portal_side() -> bool:
    return bool(getattr(session, "from_token", False) and session.get("portal_id"))


def credential_tabs(credential: Credential | None) -> list[Tab]:
    """"Главная", "Чаты и офлайн заявки", "Звонки", "Журнал", "Подключение" — the same on both sides."""
    portal_side = _on_portal_side()
    connection_url = (url_for("iframe.home") if portal_side
                      else url_for("uis_side.credential", credential_id=credential.id) if credential else None)
    if credential is None:
        tabs = [Tab("main", str(_l("Главная")), url_for("settings.choose")),
                Tab("journal", str(_l("Журнал")), url_for("journal.choose"))]
        if portal_side:
            tabs.append(Tab("connection", str(_l("Подключение")), url_for("iframe.home")))
        return tabs
    tabs = [
        Tab("main", str(_l("Главная")), url_for("settings.main", credential_id=credential.id)),
        Tab("channels", str(_l("Чаты и офлайн заявки")),
            url_for("settings.section", credential_id=credential.id, section="chats")),
    ]
    tabs.append(Tab("calls", str(_l("Звонки")),
                    url_for("settings.section", credential_id=credential.id, section="calls")))
    tabs.append(Tab("journal", str(_l("Журнал")), url_for("journal.index", credential_id=credential.id)))
    tabs.append(Tab("connection", str(_l("Подключение")), connection_url))
    return tabs


def b24_path(url: str | None, portal_url: str | None) -> str:
    """The portal-relative path of an entity URL ("/crm/lead/details/5/"), what BX24.openPath takes."""
    base = (portal_url or "").rstrip("/")
    if not url or not base or not url.startswith(base):
        return ""
    return url[len(base):] or "/"


def form_limits() -> dict[str, int]:
    """The server's own limits, so the browser's maxlength is the very number the validator checks."""
    return {"title": titles.MAX_LENGTH, "filter_value": filters.MAX_VALUE_LENGTH}


def init_app(app: Flask) -> None:
    app.jinja_env.globals.update(credential_tabs=credential_tabs, form_limits=form_limits)
    app.jinja_env.filters["b24_path"] = b24_path
