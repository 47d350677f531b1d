"""The portal's OAuth consent round trip: reconnect a portal (and, on the UIS side, connect a new one)."""
from __future__ import annotations

import logging

from flask import Blueprint, current_app, render_template, request
from flask_babel import gettext as _
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from bx_app import installation
from bx_app.bitrix.errors import BitrixError
from bx_app.extensions import db
from bx_app.models import Portal
from bx_app.models.account import PortalStatus
from bx_app.portal_auth import store_tokens

log = logging.getLogger(__name__)
bp = Blueprint("b24_oauth", __name__)

STATE_MAX_AGE = 15 * 60
# Purposes other than "reconnect" register themselves here (the UIS side adds "connect").
completions: dict = {}


def _state_serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.secret_key, salt="b24-oauth-state")


def authorize_redirect_url(portal_base_url: str, state: dict) -> str:
    server = installation.oauth_server(current_app.config)
    return server.authorize_url(portal_base_url, _state_serializer().dumps(state))


@bp.get("/b24/oauth/callback")
def callback():
    error = request.args.get("error")
    raw_state = request.args.get("state") or ""
    try:
        state = _state_serializer().loads(raw_state, max_age=STATE_MAX_AGE)
    except SignatureExpired:
        return render_template("error.html", code=400, title=_("Ссылка устарела"),
                               reason=_("Подтверждение заняло слишком много времени. Начните заново.")), 400
    except BadSignature:
        return render_template("error.html", code=400, title=_("Неверный запрос"),
                               reason=_("Параметр state не прошёл проверку.")), 400
    purpose = state.get("purpose")
    if error:
        reason = _("Доступ к порталу не был предоставлен (%(error)s).", error=error)
        if purpose in completions:
            return completions[purpose](state, None, reason)
        return render_template("error.html", code=400, title=_("Подключение отменено"), reason=reason), 400
    code = request.args.get("code")
    if not code:
        return render_template("error.html", code=400, title=_("Неверный запрос"),
                               reason=_("Нет параметра code.")), 400
    try:
        # The code is valid only at the portal's own region server, which the redirect names.
        server = installation.oauth_server(current_app.config, server_domain=request.args.get("server_domain"))
    except installation.UntrustedOAuthServer as exc:
        log.warning("consent redirect names an untrusted authorization server %r", exc.server_domain)
        reason = _("Неизвестный сервер авторизации Bitrix24: %(server)s.", server=exc.server_domain[:100])
        if purpose in completions:
            return completions[purpose](state, None, reason)
        return render_template("error.html", code=400, title=_("Ошибка подключения"), reason=reason), 400
    try:
        tokens = server.exchange_code(code)
    except BitrixError as exc:
        log.warning("code exchange failed: %s", exc)
        reason = _("Bitrix24 не выдал доступ: %(error)s", error=str(exc))
        if purpose in completions:
            return completions[purpose](state, None, reason)
        return render_template("error.html", code=400, title=_("Ошибка подключения"), reason=reason), 400
    if purpose in completions:
        return completions[purpose](state, tokens, None)
    if purpose == "reconnect":
        portal = db.session.get(Portal, state.get("portal_id"))
        if portal is None or tokens.member_id != portal.member_id:
            return render_template("error.html", code=400, title=_("Другой портал"),
                                   reason=_("Доступ выдан другим порталом.")), 400
        store_tokens(portal, tokens)
        portal.status = PortalStatus.INSTALLED
        portal.status_reason = None
        db.session.commit()
        return render_template("oauth_done.html", portal=portal)
    return render_template("error.html", code=400, title=_("Неверный запрос"), reason="unknown purpose"), 400
