"""Every page answers with a CSP (scripts only from us, BX24.js or this response's nonce), no referrer,
no MIME sniffing, and a Permissions-Policy that keeps the copy buttons working inside the portal."""
from __future__ import annotations

import re

import pytest
import responses

from bx_app.extensions import db
from bx_app.models import Portal
from tests.unit.factories import portal_token, two_accounts
from tests.unit.portal_fakes import FakeBitrix, iframe_post

SCRIPT_TAG = re.compile(r"<script\b([^>]*)>", re.I)
INLINE_HANDLER = re.compile(r"\son[a-z]+\s*=", re.I)


def _csp(response) -> dict[str, str]:
    header = response.headers["Content-Security-Policy"]
    return {d.strip().split(" ", 1)[0]: d.strip().partition(" ")[2] for d in header.split(";") if d.strip()}


def _pages(app, client):
    world = two_accounts()
    mine = world["mine"]
    token = portal_token(app, mine)
    with client.session_transaction() as session:
        session["uis_account_id"] = world["account"].id
    return [
        f"/app?_s={token}", f"/settings?_s={token}", f"/journal?_s={token}",
        f"/settings/{mine.id}/main?_s={token}", f"/journal/{mine.id}?_s={token}",
        "/uis/", "/uis/credentials", f"/uis/credentials/{mine.id}", "/uis/connect", "/healthz", "/no-such-page",
        "/app",
    ]


def test_every_page_carries_the_security_headers(app, client):
    for path in _pages(app, client):
        response = client.get(path)
        assert response.status_code < 500, path
        assert response.headers["Referrer-Policy"] == "no-referrer", path
        assert response.headers["X-Content-Type-Options"] == "nosniff", path
        assert "clipboard-write=(self)" in response.headers["Permissions-Policy"], path
        assert "camera=()" in response.headers["Permissions-Policy"]
        csp = _csp(response)
        assert csp["default-src"] == "'self'" and csp["object-src"] == "'none'", path
        sources = csp["script-src"].split()
        assert "'self'" in sources and "https://api.bitrix24.com" in sources, path
        assert "'unsafe-inline'" not in sources and "'unsafe-eval'" not in sources, path


def test_no_inline_script_runs_without_this_responses_nonce(app, client):
    for path in _pages(app, client):
        response = client.get(path)
        html = response.get_data(as_text=True)
        nonce = re.search(r"'nonce-([^']+)'", _csp(response)["script-src"]).group(1)
        for attributes in SCRIPT_TAG.findall(html):
            assert "src=" in attributes or f'nonce="{nonce}"' in attributes, (path, attributes)
        assert not INLINE_HANDLER.search(html), (path, INLINE_HANDLER.search(html))


def test_the_nonce_differs_per_response(app, client):
    token = portal_token(app, two_accounts()["mine"])
    first = _csp(client.get(f"/app?_s={token}"))["script-src"]
    second = _csp(client.get(f"/app?_s={token}"))["script-src"]
    assert first != second


def test_portal_pages_are_framed_only_by_the_portal_and_the_uis_side_never(app, client):
    token = portal_token(app, two_accounts()["mine"])
    assert _csp(client.get(f"/app?_s={token}"))["frame-ancestors"] == "https://p1.bitrix24.ru"
    uis = client.get("/uis/")
    assert _csp(uis)["frame-ancestors"] == "'none'" and uis.headers["X-Frame-Options"] == "DENY"


def test_the_bx24_origin_follows_the_configuration(app, client):
    app.config["B24_JS_URL"] = "http://127.0.0.1:8081/bx24.js"
    assert "http://127.0.0.1:8081" in _csp(client.get("/healthz"))["script-src"].split()


def test_uis_side_cookie_is_secure_httponly_and_samesite_under_https(app, client, monkeypatch):
    assert app.config["PUBLIC_URL"].startswith("https://")
    with client.session_transaction() as session:
        session["lang"] = "ru"
    response = client.get("/uis/lang/en", base_url="https://localhost")
    cookie = response.headers["Set-Cookie"]
    assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_cookies_are_not_marked_secure_for_a_plain_http_development_app(tmp_path, redis_url):
    from bx_app import create_app
    from tests.conftest import TEST_CONFIG

    dev = create_app(dict(TEST_CONFIG, PUBLIC_URL="http://localhost:8000", REDIS_URL=redis_url,
                          SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path / 'dev.db'}"))
    assert dev.config["SESSION_COOKIE_SECURE"] is False


# --- the iframe session: short-lived, renewed with the portal's own auth -----------------------------
ADMIN, USER = "admin-token-1", "user-token-7"


@pytest.fixture
def bitrix():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        yield FakeBitrix(rsps, valid_tokens={ADMIN, USER}, admin_tokens={ADMIN})


def _renew(client, token):
    query, form = iframe_post(auth_id=token)
    return client.post("/app/session", data={"AUTH_ID": form["AUTH_ID"], "member_id": form["member_id"],
                                             "DOMAIN": query["DOMAIN"]})


def test_the_iframe_session_lives_minutes_not_hours(app):
    assert app.config["APP_SESSION_SECONDS"] <= 15 * 60
    assert app.config["APP_SESSION_RENEW_SECONDS"] < app.config["APP_SESSION_SECONDS"]


def test_a_demoted_admin_loses_admin_rights_at_the_next_renewal(app, client, bitrix):
    query, form = iframe_post(auth_id=ADMIN)
    opened = client.post("/app", query_string=query, data=form)
    admin_session = re.search(r"_s=([^&\"']+)", opened.headers["Location"]).group(1)
    assert 'id="reconnect"' in client.get(f"/app?_s={admin_session}").get_data(as_text=True)

    bitrix.admin_tokens.discard(ADMIN)  # the portal took the admin role away
    renewed = _renew(client, ADMIN)
    assert renewed.status_code == 200 and renewed.get_json()["admin"] is False
    new_session = renewed.get_json()["session"]
    assert new_session != admin_session
    assert client.post("/app/reconnect", data={"_s": new_session}).status_code == 403
    assert 'id="reconnect"' not in client.get(f"/app?_s={new_session}").get_data(as_text=True)


def test_an_old_session_expires_without_renewal(app, client, bitrix, monkeypatch):
    query, form = iframe_post(auth_id=ADMIN)
    opened = client.post("/app", query_string=query, data=form)
    token = re.search(r"_s=([^&\"']+)", opened.headers["Location"]).group(1)
    import time as time_module

    real = time_module.time
    monkeypatch.setattr(time_module, "time", lambda: real() + app.config["APP_SESSION_SECONDS"] + 5)
    assert client.get(f"/app?_s={token}").status_code == 401


def test_renewal_needs_a_token_the_portal_confirms(client, bitrix):
    query, form = iframe_post(auth_id=ADMIN)
    client.post("/app", query_string=query, data=form)
    assert _renew(client, "forged").status_code == 403
    assert client.post("/app/session", data={}).status_code == 400


def test_renewal_for_an_unknown_portal_is_404(client, bitrix):
    assert _renew(client, ADMIN).status_code == 404
    assert db.session.query(Portal).count() == 0


def test_the_portal_page_renews_its_session_from_a_static_script(app, client):
    token = portal_token(app, two_accounts()["mine"])
    html = client.get(f"/app?_s={token}").get_data(as_text=True)
    assert 'src="/static/session_renewal.js" data-renew-url="/app/session"' in html
    script = client.get("/static/session_renewal.js").get_data(as_text=True)
    assert "BX24.refreshAuth" in script and "X-App-Session" in script
