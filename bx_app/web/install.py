"""POST /install (installer iframe and ONAPPINSTALL) and POST /b24/events (ONAPPUNINSTALL)."""
from __future__ import annotations

import contextlib
import logging

from flask import Blueprint, current_app, g, jsonify, render_template, request
from flask_babel import gettext as _
from itsdangerous import URLSafeTimedSerializer
from redis.exceptions import RedisError

from bx_app import installation, reference_sync
from bx_app.bitrix.errors import BitrixError
from bx_app.extensions import csrf
from bx_app.installation import InstallRejected

log = logging.getLogger(__name__)
bp = Blueprint("install", __name__)


def claim_serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.secret_key, salt="install-claim")


def claim_link_for(credential) -> str:
    """The link that finishes a marketplace install on the UIS side (I2): signed, expiring, single-use."""
    claim = installation.usable_install_claim(credential, current_app.config["INSTALL_CLAIM_SECONDS"])
    token = claim_serializer().dumps({"nonce": claim.nonce, "credential": credential.id})
    return current_app.config["PUBLIC_URL"] + "/uis/claim/" + token


def events_url() -> str:
    return current_app.config["PUBLIC_URL"] + "/b24/events"


def frame_for(response, portal_origin: str | None):
    """Let the portal (and only the portal, when we know it) frame this page."""
    response.headers.pop("X-Frame-Options", None)
    ancestors = portal_origin or "*"
    response.headers["Content-Security-Policy"] = f"frame-ancestors {ancestors}"
    return response


def _portal_origin(auth: installation.PortalAuth | None) -> str | None:
    if auth is None:
        return None
    return ("https://" if auth.secure else "http://") + auth.domain


def verified_portal_post() -> tuple[installation.PortalAuth, dict]:
    """Parse and verify the portal's iframe POST (installer or app); raises InstallRejected."""
    auth = installation.parse_iframe_post(request.args, request.form)
    g.portal_lang = auth.lang
    g.portal_auth = auth
    config = current_app.config
    installation.portal_endpoint(auth.domain, auth.secure, config["B24_ALLOW_INSECURE_PORTALS"])
    return auth, installation.verify_portal_auth(auth, config)


def rejection_page(exc: InstallRejected, title: str):
    """The 4xx page for a refused portal POST, frameable by the portal that sent it."""
    log.warning("%s %s refused member_id=%s: %s", request.method, request.path, request.form.get("member_id"),
                exc.reason)
    response = current_app.make_response((render_template(
        "error.html", code=exc.status, title=title, reason=exc.reason), exc.status))
    return frame_for(response, _portal_origin(g.get("portal_auth")))


def start_reference_sync(credential_id: int) -> None:
    """After an install, read the portal's users, fields and pipelines (M1) in the background."""
    try:
        reference_sync.start_sync(credential_id)
    except RedisError:  # the schedule and the Main tab's button catch up later
        log.warning("could not queue the reference sync of credential %s", credential_id, exc_info=True)


def _is_event_post() -> bool:
    return bool(request.form.get("event")) and "auth[member_id]" in request.form


@bp.post("/install")
@csrf.exempt
def install():
    if _is_event_post():
        return _install_event()
    try:
        auth, info = verified_portal_post()
        portal = installation.upsert_installed_portal(auth, info, current_app.config)
        bind_error = None
        try:
            installation.ensure_uninstall_handler(portal, auth.access_token, events_url(), current_app.config)
        except Exception as exc:  # noqa: BLE001 - shown on the page, install still completes
            bind_error = str(exc)
        credential = portal.credential
        start_reference_sync(credential.id)
        claim_link = claim_link_for(credential) if credential.uis_account_id is None else None
        response = current_app.make_response(render_template(
            "install.html", portal=portal, credential=credential, claim_link=claim_link,
            bind_error=bind_error, b24_js_url=current_app.config["B24_JS_URL"],
        ))
        return frame_for(response, _portal_origin(auth))
    except InstallRejected as exc:
        return rejection_page(exc, _("Установка отклонена"))


def _install_event():
    """ONAPPINSTALL (queued by Bitrix24, maybe before or after the installer iframe): verify, then store."""
    try:
        auth = installation.parse_event_auth(request.form)
        config = current_app.config
        endpoint = auth.client_endpoint or installation.portal_endpoint(
            auth.domain, auth.secure, config["B24_ALLOW_INSECURE_PORTALS"])
        installation.check_endpoint(endpoint, config["B24_ALLOW_INSECURE_PORTALS"])
        info = installation.verify_portal_auth(auth, config)
        portal = installation.upsert_installed_portal(auth, info, config)
        with contextlib.suppress(BitrixError):  # logged inside; the install itself is stored
            installation.ensure_uninstall_handler(portal, auth.access_token, events_url(), config)
        return jsonify(result="installed", member_id=portal.member_id)
    except InstallRejected as exc:
        log.warning("ONAPPINSTALL refused member_id=%s: %s", request.form.get("auth[member_id]"), exc.reason)
        return jsonify(error="rejected", reason=str(exc.reason)), exc.status


@bp.post("/b24/events")
@csrf.exempt
def events():
    event = (request.form.get("event") or "").upper()
    if not event:
        return jsonify(error="bad_request", reason="missing field: event"), 400
    try:
        if event == "ONAPPINSTALL":
            return _install_event()
        if event == "ONAPPUNINSTALL":
            portal = installation.uninstall(request.form)
            return jsonify(result="uninstalled", member_id=portal.member_id)
    except InstallRejected as exc:
        return jsonify(error="rejected", reason=str(exc.reason)), exc.status
    log.info("ignored Bitrix24 event %s member_id=%s", event, request.form.get("auth[member_id]"))
    return jsonify(result="ignored", event=event)
