"""The app in the portal's iframe: verified POST, a session without third-party cookies, admin rights."""
from __future__ import annotations

import re

import pytest
import responses

from bx_app.models import Portal
from bx_app.models.account import PortalStatus
from tests.unit.portal_fakes import FakeBitrix, iframe_post

ADMIN = "admin-token-1"
USER = "user-token-7"


@pytest.fixture
def bitrix():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        yield FakeBitrix(rsps, valid_tokens={ADMIN, USER}, admin_tokens={ADMIN})


def open_app(client, token=ADMIN, **overrides):
    query, form = iframe_post(auth_id=token, **overrides)
    return client.post("/app", query_string=query, data=form)


def session_token(response) -> str:
    match = re.search(r"_s=([^&\"']+)", response.headers["Location"])
    assert match, response.headers
    return match.group(1)


def test_open_from_portal_redirects_with_a_session_token_and_sets_no_cookie(client, bitrix):
    response = open_app(client)
    assert response.status_code == 302
    assert "Set-Cookie" not in response.headers  # third-party cookies may be blocked: none needed
    token = session_token(response)
    page = client.get(f"/app?_s={token}")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "example.bitrix24.ru" in text
    assert f"_s={token}" in text or token in text  # links and forms carry the session
    assert "Set-Cookie" not in page.headers


def test_open_installs_when_the_install_post_was_lost(client, bitrix):
    assert Portal.query.count() == 0
    open_app(client)
    assert Portal.query.one().status == PortalStatus.INSTALLED


def test_get_without_session_is_401_not_500(client, bitrix):
    assert client.get("/app").status_code == 401
    assert client.get("/app?_s=garbage").status_code == 401


def test_admin_sees_reconnect_and_non_admin_is_read_only(client, bitrix):
    admin_page = client.get(f"/app?_s={session_token(open_app(client, ADMIN))}").get_data(as_text=True)
    assert 'id="reconnect"' in admin_page
    user_token = session_token(open_app(client, USER))
    user_page = client.get(f"/app?_s={user_token}").get_data(as_text=True)
    assert 'id="reconnect"' not in user_page
    assert client.post("/app/reconnect", data={"_s": user_token}).status_code == 403


def test_forged_open_is_refused(client, bitrix):
    assert open_app(client, token="forged").status_code == 403
    assert Portal.query.count() == 0


def test_admin_open_heals_a_portal_that_needs_reauthorisation(client, bitrix):
    open_app(client)
    portal = Portal.query.one()
    portal.status = PortalStatus.NEEDS_REAUTH
    from bx_app.extensions import db

    db.session.commit()
    open_app(client, USER)
    assert Portal.query.one().status == PortalStatus.NEEDS_REAUTH  # a non-admin cannot heal it
    open_app(client, ADMIN)
    assert Portal.query.one().status == PortalStatus.INSTALLED


def test_csrf_is_enforced_with_token_sessions(app, bitrix):
    app.config["WTF_CSRF_ENABLED"] = True
    client = app.test_client()
    token = session_token(open_app(client))
    response = client.post("/app/reconnect", data={"_s": token})
    assert response.status_code == 400  # no CSRF token
    page = client.get(f"/app?_s={token}").get_data(as_text=True)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    with responses.RequestsMock(assert_all_requests_are_fired=False):
        response = client.post("/app/reconnect", data={"_s": token, "csrf_token": csrf})
    assert response.status_code == 302
    assert "/oauth/authorize/" in response.headers["Location"]
