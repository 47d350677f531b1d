"""Rate limits on the public endpoints: Flask-Limiter with its counters in Redis, shared by every process.

Each UIS sign-in try is a Data API call from our address, and each I1 connect try a request to a host
the user names: both are limited per client address, sign-in also per key tried (the account it
opens). Portal POSTs (install, opening the app, its session renewal, Bitrix24 events) are limited per
address; the hook per credential, generously (UIS sends real bursts). A refusal is a 429 with
Retry-After and a page that says when to try again. The limits are set in one place, here, on the
registered views, and can be tuned through the environment (config RATELIMIT_*).
"""
from __future__ import annotations

import hashlib
import logging
import math
import time

from flask import Flask, current_app, jsonify, render_template, request
from flask_babel import gettext as _
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from limits import parse_many
from werkzeug.exceptions import TooManyRequests
from werkzeug.middleware.proxy_fix import ProxyFix

log = logging.getLogger(__name__)


def _digest(text: str) -> str:
    # Keys in Redis never hold the secret itself.
    return hashlib.sha256(text.encode("utf-8", "replace")).hexdigest()[:32]


def _sign_in_key() -> str:
    return "uis-key:" + _digest(request.form.get("token", "") if request.mimetype else "")


def _hook_credential() -> str:
    return "hook:" + _digest((request.view_args or {}).get("hook_token", ""))


def _config_limit(name: str):
    return lambda: current_app.config[name]


# endpoint → [(config name, key function, methods)]
LIMITS = {
    "uis_side.sign_in": [("RATELIMIT_SIGN_IN_ADDRESS", get_remote_address, ["POST"])],
    "uis_side.connect": [("RATELIMIT_CONNECT", get_remote_address, ["POST"])],
    "install.install": [("RATELIMIT_PORTAL_POST", get_remote_address, ["POST"])],
    "install.events": [("RATELIMIT_PORTAL_POST", get_remote_address, ["POST"])],
    "iframe.open_from_portal": [("RATELIMIT_PORTAL_POST", get_remote_address, ["POST"])],
    "iframe.renew_session": [("RATELIMIT_PORTAL_POST", get_remote_address, ["POST"])],
    "hooks.uis_notification": [("RATELIMIT_HOOK", _hook_credential, None)],
}


class KeyTriesExceeded(TooManyRequests):
    def __init__(self, retry_after: int):
        super().__init__()
        self.retry_after = retry_after


def _check_sign_in_key() -> None:
    """The per-account limit of UIS sign-in: tries of one Data API key, from any address.

    Checked here with the limiter's own strategy and storage rather than a second decorator on the
    view (stacked Flask-Limiter decorators count a request twice).
    """
    limiter = current_app.extensions["bx_limiter"]
    if request.endpoint != "uis_side.sign_in" or request.method != "POST" or not limiter.enabled:
        return
    try:
        for item in parse_many(current_app.config["RATELIMIT_SIGN_IN_KEY"]):
            if not limiter.limiter.hit(item, "uis-sign-in-key", _sign_in_key()):
                reset_at, _remaining = limiter.limiter.get_window_stats(item, "uis-sign-in-key", _sign_in_key())
                raise KeyTriesExceeded(max(1, math.ceil(reset_at - time.time())))
    except KeyTriesExceeded:
        raise
    except Exception:  # noqa: BLE001 - Redis down: the address limit (and UIS's own) still stand
        log.warning("sign-in key limit unavailable", exc_info=True)


def _retry_after(exc) -> int:
    """Seconds until the limit's window lets the next request through (its length at most)."""
    if isinstance(exc, KeyTriesExceeded):
        return exc.retry_after
    limit = getattr(exc, "limit", None)
    item = getattr(limit, "limit", None)
    return max(1, int(item.get_expiry())) if item is not None else 60


def init_app(app: Flask) -> None:
    """Call after the blueprints are registered: the limits attach to their views."""
    hops = int(app.config.get("TRUSTED_PROXY_HOPS") or 0)
    if hops:
        # Behind a reverse proxy the client's address is in X-Forwarded-For, `hops` proxies deep.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)
    app.config.setdefault("RATELIMIT_STORAGE_URI", app.config["REDIS_URL"])
    app.config.setdefault("RATELIMIT_KEY_PREFIX", "bx:ratelimit")
    app.config.setdefault("RATELIMIT_HEADERS_ENABLED", True)
    # Redis down: requests go on unlimited rather than failing (the hook must keep storing events).
    app.config.setdefault("RATELIMIT_SWALLOW_ERRORS", True)
    # One Limiter per app: its registry of view limits is keyed by view name, and the views are shared
    # by every app made in this process (tests make many).
    limiter = Limiter(key_func=get_remote_address)
    limiter.init_app(app)
    app.extensions["bx_limiter"] = limiter
    for endpoint, limits in LIMITS.items():
        view = app.view_functions[endpoint]
        for config_name, key_func, methods in limits:
            view = limiter.limit(_config_limit(config_name), key_func=key_func, methods=methods,
                                 per_method=False)(view)
        app.view_functions[endpoint] = view
    app.before_request(_check_sign_in_key)

    @app.errorhandler(429)
    def too_many_requests(exc):
        wait = _retry_after(exc)
        reason = _("Слишком много запросов. Повторите через %(seconds)s с.", seconds=wait)
        if request.path.startswith(("/hooks/", "/b24/events")) or request.accept_mimetypes.best == "application/json":
            response = jsonify(error="too_many_requests", reason=str(reason), retry_after=wait)
        else:
            response = current_app.make_response(render_template(
                "error.html", code=429, title=_("Слишком много запросов"), reason=reason))
        response.status_code = 429
        response.headers["Retry-After"] = str(wait)
        return response
