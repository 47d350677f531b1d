"""Times as people read them: in the viewer's zone and language ("29.11.2026 18:30"), or "5 минут назад".

Every stored time is a UTC instant; a page shows it in the zone of whoever looks: inside the portal the
user's own Bitrix24 zone (profile TIME_ZONE, kept in the iframe session), else the zone of the UIS account
behind the portal; on the UIS side the account's zone. Never ISO, never the word "UTC".
"""
from __future__ import annotations

from datetime import UTC, datetime, timedelta, tzinfo

from babel.dates import format_datetime
from flask import Flask, has_request_context, request, session
from flask_babel import format_timedelta, get_locale
from flask_babel import gettext as _

from bx_app.extensions import db
from bx_app.models import Portal, UisAccount
from bx_app.models.timeutil import utcnow, zone_named

PATTERNS = {
    "ru": {False: "dd.MM.yyyy HH:mm", True: "dd.MM.yyyy HH:mm:ss"},
    "en": {False: "d MMM yyyy, HH:mm", True: "d MMM yyyy, HH:mm:ss"},
}
JUST_NOW = timedelta(seconds=45)


def _language() -> str:
    return "en" if str(get_locale() or "ru").startswith("en") else "ru"


def viewer_zone() -> tzinfo:
    """The zone of whoever looks at this page (cached for the request)."""
    if not has_request_context():
        return zone_named(None)
    zone = request.environ.get("bx_app.viewer_zone")
    if zone is None:
        zone = request.environ["bx_app.viewer_zone"] = _viewer_zone()
    return zone


def _viewer_zone() -> tzinfo:
    if getattr(session, "from_token", False) and session.get("portal_id"):
        if session.get("tz"):
            return zone_named(session["tz"], default=_portal_account_zone(session["portal_id"]))
        return zone_named(_portal_account_zone(session["portal_id"]))
    account_id = session.get("uis_account_id")
    account = db.session.get(UisAccount, account_id) if account_id else None
    return zone_named(account.timezone if account is not None else None)


def _portal_account_zone(portal_id: int) -> str | None:
    portal = db.session.get(Portal, portal_id)
    credential = portal.credential if portal is not None else None
    account = credential.uis_account if credential is not None else None
    return account.timezone if account is not None else None


def _instant(moment) -> datetime | None:
    """A stored time (aware, or naive UTC) or ISO text → an aware instant; anything else → None."""
    if isinstance(moment, str):
        try:
            moment = datetime.fromisoformat(moment.strip())
        except ValueError:
            return None
    if not isinstance(moment, datetime):
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def when(moment, seconds: bool = False, zone: tzinfo | None = None) -> str:
    """"29.11.2026 18:30" (Russian) / "29 Nov 2026, 18:30" (English) in the viewer's zone; "" for nothing."""
    instant = _instant(moment)
    if instant is None:
        return ""
    language = _language()
    return format_datetime(instant, PATTERNS[language][seconds], tzinfo=zone or viewer_zone(), locale=language)


def ago(moment, now: datetime | None = None) -> str:
    """"5 минут назад" / "5 minutes ago"; "только что" within a minute."""
    instant = _instant(moment)
    if instant is None:
        return ""
    delta = instant - (now or utcnow())
    if abs(delta) < JUST_NOW:
        return _("только что")
    return format_timedelta(delta, add_direction=True)


def when_ago(moment) -> str:
    """"29.11.2026 18:30 (5 минут назад)": the moment and how long ago it was."""
    shown = when(moment)
    return f"{shown} ({ago(moment)})" if shown else ""


def init_app(app: Flask) -> None:
    app.jinja_env.filters.update(when=when, ago=ago, when_ago=when_ago)
