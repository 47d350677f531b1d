"""Security headers on every answer: CSP with a per-request script nonce, no referrers, no sniffing.

Links inside the iframe carry the session token in `_s`, so no page may send its URL as a Referer
anywhere (`Referrer-Policy: no-referrer`). Scripts run only from our own origin, the BX24.js origin, or
inline with this response's nonce. Pages that the portal frames get their `frame-ancestors` from
`install.frame_for`; the UIS side is never framed.
"""
from __future__ import annotations

import secrets
from urllib.parse import urlsplit

from flask import Flask, g, request

# clipboard-write stays allowed for our own origin: the copy buttons inside the portal's iframe.
PERMISSIONS_POLICY = ("clipboard-write=(self), camera=(), microphone=(), geolocation=(), payment=(), usb=(), "
                      "display-capture=()")


def csp_nonce() -> str:
    nonce = g.get("csp_nonce")
    if nonce is None:
        nonce = g.csp_nonce = secrets.token_urlsafe(18)
    return nonce


def _origin(url: str) -> str | None:
    parts = urlsplit(url or "")
    if parts.scheme in ("http", "https") and parts.netloc:
        return f"{parts.scheme}://{parts.netloc}"
    return None


def content_security_policy(app: Flask, frame_ancestors: str | None) -> str:
    script_sources = ["'self'", f"'nonce-{csp_nonce()}'"]
    bx24_origin = _origin(app.config.get("B24_JS_URL", ""))
    if bx24_origin:
        script_sources.append(bx24_origin)
    directives = [
        "default-src 'self'",
        "script-src " + " ".join(script_sources),
        "script-src-attr 'none'",
        # Progress bars set their width in a style attribute; styles cannot run code.
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
    ]
    if frame_ancestors:
        directives.append(f"frame-ancestors {frame_ancestors}")
    return "; ".join(directives)


def init_app(app: Flask) -> None:
    app.jinja_env.globals["csp_nonce"] = csp_nonce

    @app.before_request
    def _fresh_nonce():
        g.csp_nonce = secrets.token_urlsafe(18)

    @app.after_request
    def _security_headers(response):
        existing = response.headers.get("Content-Security-Policy", "")
        frame_ancestors = None
        for directive in existing.split(";"):
            name, _sep, value = directive.strip().partition(" ")
            if name == "frame-ancestors":
                frame_ancestors = value.strip()
        if frame_ancestors is None and request.path.startswith("/uis"):
            frame_ancestors = "'none'"
        response.headers["Content-Security-Policy"] = content_security_policy(app, frame_ancestors)
        response.headers["Referrer-Policy"] = "no-referrer"
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Permissions-Policy"] = PERMISSIONS_POLICY
        if frame_ancestors == "'none'":
            response.headers["X-Frame-Options"] = "DENY"
        return response
