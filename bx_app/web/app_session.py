"""The iframe app's session, carried as a signed token in URLs and forms instead of a third-party cookie.

Inside the portal's iframe the app is a third-party site: Safari and Chrome with third-party cookies
blocked drop its cookies. So a verified portal POST mints a signed, expiring token holding the whole
session (portal, user, admin flag, language, CSRF secret); links get it through `url_defaults`, forms
through a hidden field, scripts through the `X-App-Session` header. Pages outside the iframe (the UIS
side) keep Flask's ordinary cookie session.
"""
from __future__ import annotations

import time

from flask import Flask, g, request, session
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface
from flask_wtf.csrf import generate_csrf
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from werkzeug.exceptions import HTTPException

TOKEN_PARAM = "_s"
TOKEN_HEADER = "X-App-Session"


class AppSession(SecureCookieSession):
    """A session that came from (and is re-issued as) a signed token rather than a cookie."""

    from_token = True


def _serializer(app: Flask) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(app.secret_key, salt="bx-app-iframe-session")


def issue_token(app: Flask, data: dict) -> str:
    return _serializer(app).dumps(dict(data))


def read_token(app: Flask, token: str) -> dict | None:
    try:
        data = _serializer(app).loads(token, max_age=app.config["APP_SESSION_SECONDS"])
    except (SignatureExpired, BadSignature):
        return None
    return data if isinstance(data, dict) else None


def _token_from_request() -> str | None:
    token = request.args.get(TOKEN_PARAM) or request.headers.get(TOKEN_HEADER)
    if not token and request.method == "POST" and request.mimetype in (
        "application/x-www-form-urlencoded", "multipart/form-data"
    ):
        try:
            token = request.form.get(TOKEN_PARAM)
        except (HTTPException, ValueError):
            # A body too large or malformed to parse: the session opens empty here, before Flask's error
            # handling exists; the view's own read of the form raises the same error as a 4xx.
            return None
    return token


class AppSessionInterface(SecureCookieSessionInterface):
    """Cookie sessions as usual, except when the request carries an iframe session token."""

    def open_session(self, app, request):
        token = _token_from_request()
        if token:
            data = read_token(app, token)
            if data is None:
                g.app_session_invalid = True
                return AppSession()
            session = AppSession(data)
            g.app_session_token = token
            return session
        return super().open_session(app, request)

    def save_session(self, app, session, response):
        if getattr(session, "from_token", False):
            return  # never a cookie for the iframe; the token travels in URLs and forms
        return super().save_session(app, session, response)


def start_token_session(app: Flask, data: dict) -> str:
    """Turn this request's session into a token session (after a verified portal POST)."""
    session.clear()
    session.update(data)
    session["iat"] = int(time.time())
    session.from_token = True  # save_session: no cookie for this response either
    # The CSRF secret becomes part of the token before anything renders.
    g.pop("csrf_token", None)
    generate_csrf()
    token = issue_token(app, dict(session))
    g.app_session_token = token
    return token


def init_app(app: Flask) -> None:
    app.session_interface = AppSessionInterface()

    @app.url_defaults
    def _carry_session_token(endpoint, values):
        token = g.get("app_session_token") if g else None
        if token and endpoint and endpoint.startswith(("iframe.", "settings.", "journal.")):
            values.setdefault(TOKEN_PARAM, token)

    @app.context_processor
    def _session_token():
        return {"app_session_token": g.get("app_session_token"), "session_param": TOKEN_PARAM}
