"""The app inside the portal's iframe: POST /app verifies the portal and starts a token session."""
from __future__ import annotations

import logging
from functools import wraps

from flask import (
    Blueprint,
    abort,
    current_app,
    g,
    jsonify,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext as _

from bx_app import installation
from bx_app.bitrix.client import PortalClient
from bx_app.bitrix.errors import BitrixError
from bx_app.extensions import csrf, db
from bx_app.installation import InstallRejected, StaticToken
from bx_app.models import Portal
from bx_app.models.account import PortalStatus
from bx_app.uis_accounts import change_hook_address, hook_url, notification_templates
from bx_app.web import app_session, setup_view
from bx_app.web.b24_oauth import authorize_redirect_url
from bx_app.web.install import claim_link_for, frame_for, rejection_page, verified_portal_post
from bx_app.web.viewer import current_viewer

log = logging.getLogger(__name__)
bp = Blueprint("iframe", __name__)


def portal_origin(portal: Portal) -> str:
    return portal.portal_url


def current_portal() -> Portal:
    portal = db.session.get(Portal, session.get("portal_id"))
    if portal is None:
        abort(401, description=_("Сессия приложения не найдена. Откройте приложение из портала Bitrix24."))
    return portal


def app_session_required(view):
    @wraps(view)
    def wrapper(*args, **kwargs):
        if not getattr(session, "from_token", False) or not session.get("portal_id"):
            if g.get("app_session_invalid"):
                abort(401, description=_("Сессия приложения истекла. Откройте приложение из портала заново."))
            abort(401, description=_("Откройте приложение из портала Bitrix24."))
        g.portal_lang = session.get("lang")
        return view(*args, **kwargs)

    return wrapper


def admin_required(view):
    @wraps(view)
    def wrapper(*args, **kwargs):
        if not session.get("admin"):
            abort(403, description=_("Изменять настройки могут только администраторы портала."))
        return view(*args, **kwargs)

    return wrapper


def _who_is_opening(portal: Portal, auth_id: str) -> tuple[int | None, bool, str, str | None]:
    """The opening user's id, admin flag, name and time zone, in one batch with the user's own token."""
    client = PortalClient(portal.client_endpoint, StaticToken(auth_id),
                          address_policy=installation.address_policy(current_app.config))
    batch = client.batch({"me": ("profile", {}), "is_admin": ("user.admin", {})})
    profile = batch.results.get("me") or {}
    is_admin = bool(batch.results.get("is_admin"))
    user_id = profile.get("ID")
    name = " ".join(p for p in (profile.get("NAME"), profile.get("LAST_NAME")) if p) or ""
    zone = str(profile.get("TIME_ZONE") or "").strip() or None  # empty: the user keeps the portal's zone
    return (int(user_id) if user_id else None), is_admin, name, zone


@bp.post("/app")
@csrf.exempt
def open_from_portal():
    try:
        auth, info = verified_portal_post()
        config = current_app.config
        portal = Portal.query.filter_by(member_id=auth.member_id).one_or_none()
        try:
            if portal is None or portal.status == PortalStatus.UNINSTALLED:
                # The install POST was lost (or this is a re-install): the verified open installs.
                portal = installation.upsert_installed_portal(auth, info, config)
            user_id, is_admin, user_name, user_zone = _who_is_opening(portal, auth.access_token)
        except BitrixError as exc:
            raise InstallRejected(502, f"Bitrix24: {exc}") from exc
        if is_admin and portal.status == PortalStatus.NEEDS_REAUTH:
            # An administrator's fresh tokens heal a portal whose refresh token was lost.
            portal = installation.upsert_installed_portal(auth, info, config)
        if portal.lang != auth.lang:
            portal.lang = auth.lang
            db.session.commit()
        token = app_session.start_token_session(current_app, {
            "portal_id": portal.id, "member_id": portal.member_id, "user_id": user_id,
            "user_name": user_name, "admin": is_admin, "lang": auth.lang, "tz": user_zone,
        })
        response = redirect(url_for("iframe.home", _s=token))
        return frame_for(response, portal_origin(portal))
    except InstallRejected as exc:
        return rejection_page(exc, _("Доступ отклонён"))


@bp.post("/app/session")
@csrf.exempt
def renew_session():
    """A fresh short-lived session from the portal's own current auth (BX24.refreshAuth on the page).

    The page proves who is looking with the portal's token, exactly as the first POST /app did: the
    authorization server confirms it, and the user's admin flag is read again with it. A demoted
    administrator therefore loses admin rights at the next renewal, within minutes.
    """
    try:
        auth = installation.parse_iframe_post(request.args, request.form)
        g.portal_lang = auth.lang
        portal = Portal.query.filter_by(member_id=auth.member_id).one_or_none()
        if portal is None or portal.status == PortalStatus.UNINSTALLED:
            raise InstallRejected(404, _("Приложение не установлено на этом портале."))
        auth.server_endpoint = auth.server_endpoint or portal.server_endpoint
        auth.lang = request.form.get("LANG") or session.get("lang") or portal.lang or "ru"
        installation.verify_portal_auth(auth, current_app.config)
        try:
            user_id, is_admin, user_name, user_zone = _who_is_opening(portal, auth.access_token)
        except BitrixError as exc:
            raise InstallRejected(502, f"Bitrix24: {exc}") from exc
    except InstallRejected as exc:
        log.info("session renewal refused member_id=%s: %s", request.form.get("member_id"), exc.reason)
        return jsonify(error="rejected", reason=str(exc.reason)), exc.status
    token = app_session.start_token_session(current_app, {
        "portal_id": portal.id, "member_id": portal.member_id, "user_id": user_id,
        "user_name": user_name, "admin": is_admin, "lang": auth.lang, "tz": user_zone,
    })
    return jsonify(session=token, admin=is_admin,
                   expires_in=current_app.config["APP_SESSION_SECONDS"])


@bp.get("/app")
@app_session_required
def home():
    portal = current_portal()
    credential = portal.credential
    setup = setup_view.checklist_context(credential) if credential else {}
    response = current_app.make_response(render_template(
        "app/home.html", portal=portal, credential=credential, viewer=current_viewer(), active_tab="connection",
        check_url=url_for("iframe.home", check=1), **setup,
        # The hook address is a secret: only the portal's administrators see it (and the UIS side).
        hook_url=hook_url(current_app.config["PUBLIC_URL"], credential) if credential and session.get("admin")
        else None,
        hook_change_url=url_for("iframe.change_hook") if credential and session.get("admin") else None,
        hook_changed=request.args.get("notice") == "hook_changed",
        b24_js_url=current_app.config["B24_JS_URL"], PortalStatus=PortalStatus,
        notifications=notification_templates(),
        claim_link=_with_language(claim_link_for(credential)) if credential and credential.uis_account_id is None
        and session.get("admin") else None,
    ))
    return frame_for(response, portal_origin(portal))


def _with_language(link: str) -> str:
    """The UIS side opens in the portal user's language (Bitrix24's LANG, kept in the iframe session)."""
    lang = session.get("lang")
    if lang not in ("ru", "en"):
        lang = "ru" if lang in ("ua", "by", "kz") else "en" if lang else None
    return f"{link}?lang={lang}" if lang else link


@bp.post("/app/hook-address")
@app_session_required
@admin_required
def change_hook():
    """"Сменить адрес": a leaked hook address stops working at once; UIS must get the new one."""
    credential = current_portal().credential
    if credential is None:
        abort(404)
    change_hook_address(credential)
    # The iframe session is not a cookie, so no flash(): the redirect says what happened.
    return redirect(url_for("iframe.home", notice="hook_changed", _anchor="notifications"))


@bp.post("/app/reconnect")
@app_session_required
@admin_required
def reconnect():
    """Start the portal's OAuth consent again (opens in a new tab: the portal will not be framed)."""
    portal = current_portal()
    return redirect(authorize_redirect_url(portal.portal_url, {"purpose": "reconnect", "portal_id": portal.id}))
