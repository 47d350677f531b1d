"""Install, open, uninstall: the app's life on a portal, as the marketplace drives it."""
from __future__ import annotations

import json
import secrets
from urllib.parse import urlencode

from . import events
from .state import PortalState, SandboxState

INSTALL_PATH = "/install"
APP_PATH = "/app"
OAUTH_CALLBACK_PATH = "/b24/oauth/callback"


def launch(state: SandboxState, portal: PortalState, user_id: int, lang: str, *, installer: bool,
           placement: str = "DEFAULT", placement_options: dict | None = None) -> dict:
    """Everything the portal page needs to open the app in its slot: the POST target, the form and the
    init data BX24.js will ask for. Tokens are fresh, issued for `user_id`. Caller holds the lock."""
    app_sid = secrets.token_hex(16)
    if installer:
        portal.ensure_application_token()
    grant = state.issue_grant(portal, user_id)
    protocol = "1" if portal.scheme == "https" else "0"
    query = urlencode({"DOMAIN": portal.domain, "PROTOCOL": protocol, "LANG": lang, "APP_SID": app_sid})
    path = INSTALL_PATH if installer else APP_PATH
    options = json.dumps(placement_options or {}, ensure_ascii=False, separators=(",", ":"))
    fields = state.iframe_form(portal, grant, placement, options)
    portal.pending_installs[app_sid] = {"user_id": user_id, "lang": lang, "installer": installer}
    return {
        "action": f"{state.app_url}{path}?{query}",
        "fields": fields,
        "app_sid": app_sid,
        "frame_name": f"{portal.domain}|{protocol}|{app_sid}",
        "init": {
            "DOMAIN": portal.domain, "PROTOCOL": int(protocol), "APP_SID": app_sid, "LANG": lang, "PATH": path,
            "AUTH_ID": grant.access_token, "REFRESH_ID": grant.refresh_token, "AUTH_EXPIRES": grant.lifetime,
            "MEMBER_ID": portal.member_id, "USER_ID": user_id, "IS_ADMIN": portal.is_admin(user_id),
            "INSTALL": installer, "FIRST_RUN": installer, "PLACEMENT": placement,
            "PLACEMENT_OPTIONS": placement_options or {},
        },
    }


def finish_install(state: SandboxState, portal: PortalState, app_sid: str, *, background: bool = True) -> bool:
    """BX24.installFinish() from the installer frame: the app is installed, then ONAPPINSTALL is queued.
    Caller holds the lock."""
    pending = portal.pending_installs.get(app_sid)
    if pending is None or not pending.get("installer"):
        return False
    install_quietly(portal, pending.get("lang", "ru"))
    send_install_event(state, portal, pending["user_id"], background=background)
    return True


def install_quietly(portal: PortalState, lang: str = "ru") -> None:
    portal.mark_installed()
    portal.language = lang


def send_install_event(state: SandboxState, portal: PortalState, user_id: int, *, background: bool = True) -> dict:
    grant = state.issue_grant(portal, user_id)
    form = events.install_event_form(state, portal, grant, handler_id=1)
    return events.deliver(state, portal, state.app_url + INSTALL_PATH, form, background=background)


def uninstall(state: SandboxState, portal: PortalState, *, clean: bool = False, background: bool = True) -> list[dict]:
    """Mark uninstalled, revoke every token, drop handlers and placements, deliver ONAPPUNINSTALL to the
    handlers bound for it. Caller holds the lock."""
    handlers = [b for b in portal.bound_events if b["event"] == "ONAPPUNINSTALL"]
    portal.installed = False
    state.tokens.revoke_portal(portal.port)
    portal.bound_events = []
    portal.placements = []
    portal.pending_installs.clear()
    return [events.deliver(state, portal, b["handler"], events.uninstall_event_form(state, portal, b["id"], clean),
                           background=background) for b in handlers]
