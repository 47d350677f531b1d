"""The sandbox authorization server: code exchange, refresh rotation, app.info, stats."""
from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from tests.conftest import reference_fixture

pytest_plugins = ["tests.sandbox.portal_fixtures"]
CLIENT_ID = "app.sandbox.uis20"  # as in portal_fixtures
OAUTH_PORT = 8090  # as in portal_fixtures
PORTAL_PORT = 8081  # as in portal_fixtures


def _authorize(sandbox, decision="allow", user=1):
    response = sandbox.portal.post(f"/oauth/authorize/?client_id={CLIENT_ID}&state=st4te&user={user}",
                                   data={"decision": decision})
    assert response.status_code == 302
    location = urlsplit(response.headers["Location"])
    return location, {k: v[0] for k, v in parse_qs(location.query).items()}


def test_authorize_allow_redirects_with_code_like_the_reference(sandbox):
    location, query = _authorize(sandbox)
    reference = reference_fixture("bitrix24/oauth_authorize_redirect.json")["step2_query"]
    assert f"{location.scheme}://{location.netloc}{location.path}" == "http://localhost:8000/b24/oauth/callback"
    assert set(query) == set(reference)
    assert query["state"] == "st4te"
    assert query["domain"] == f"127.0.0.1:{PORTAL_PORT}"
    assert query["server_domain"] == f"127.0.0.1:{OAUTH_PORT}"
    assert query["member_id"] == sandbox.portal_state.member_id and len(query["member_id"]) == 32
    # consent on a portal without the app installs it (the sandbox's I1 flow)
    assert sandbox.portal_state.installed and sandbox.portal_state.application_token


def test_authorize_deny_and_unknown_client(sandbox):
    _, query = _authorize(sandbox, decision="deny")
    assert query == {"error": "access_denied", "state": "st4te"}
    assert sandbox.portal.get("/oauth/authorize/?client_id=nope&state=x").status_code == 400
    assert b"oauth-allow" in sandbox.portal.get(f"/oauth/authorize/?client_id={CLIENT_ID}&state=x").data


def test_code_exchange_gives_the_reference_shape_once(sandbox):
    _, query = _authorize(sandbox, user=7)
    response = sandbox.token(grant_type="authorization_code", code=query["code"])
    assert response.status_code == 200
    body = response.get_json()
    reference = reference_fixture("bitrix24/oauth_token_response.json")["authorization_code"]["response"]["body"]
    assert list(body) == list(reference)
    assert body["domain"] == f"127.0.0.1:{OAUTH_PORT}"
    assert body["client_endpoint"] == f"http://127.0.0.1:{PORTAL_PORT}/rest/"
    assert body["user_id"] == 7 and body["expires_in"] == 3600
    assert body["expires"] == int(sandbox.clock.now) + 3600
    again = sandbox.token(grant_type="authorization_code", code=query["code"])
    assert again.status_code == 400 and again.get_json()["error"] == "invalid_grant"


def test_code_lives_thirty_seconds(sandbox):
    _, query = _authorize(sandbox)
    sandbox.clock.advance(31)
    response = sandbox.token(grant_type="authorization_code", code=query["code"])
    assert response.status_code == 400 and response.get_json()["error"] == "invalid_grant"


def test_refresh_rotates_and_reuse_is_invalid_grant(sandbox):
    first = sandbox.installed_tokens()
    second = sandbox.token(grant_type="refresh_token", refresh_token=first["refresh_token"]).get_json()
    assert second["refresh_token"] != first["refresh_token"]
    assert second["access_token"] != first["access_token"]
    # the new pair works, the old access token died with its refresh token
    assert sandbox.rest("profile", second["access_token"]).status_code == 200
    stale = sandbox.rest("profile", first["access_token"])
    assert stale.status_code == 401 and stale.get_json()["error"] == "expired_token"
    reuse = sandbox.token(grant_type="refresh_token", refresh_token=first["refresh_token"])
    assert reuse.status_code == 400 and reuse.get_json() == {"error": "invalid_grant", "error_description": "Invalid grant"}
    stats = sandbox.oauth.get("/sandbox/stats.json").get_json()
    assert stats["token_requests"] == {"refresh_token": 2}
    assert stats["token_errors"] == {"invalid_grant": 1}


def test_client_errors(sandbox):
    first = sandbox.installed_tokens()
    bad_secret = sandbox.oauth.get("/oauth/token/", query_string={
        "grant_type": "refresh_token", "client_id": CLIENT_ID, "client_secret": "wrong",
        "refresh_token": first["refresh_token"]})
    assert bad_secret.status_code == 400 and bad_secret.get_json()["error"] == "invalid_client"
    unknown = sandbox.oauth.post("/oauth/token/", data={
        "grant_type": "refresh_token", "client_id": "app.other", "client_secret": "x",
        "refresh_token": first["refresh_token"]})
    assert unknown.status_code == 200 and unknown.get_json() == {"error": "wrong_client"}
    missing = sandbox.token(grant_type="refresh_token")
    assert missing.status_code == 400 and missing.get_json()["error"] == "invalid_request"
    # POST form body works as well as GET
    ok = sandbox.oauth.post("/oauth/token/", data={"grant_type": "refresh_token", "client_id": CLIENT_ID,
                                                   "client_secret": "sandbox-secret",
                                                   "refresh_token": first["refresh_token"]})
    assert ok.status_code == 200 and "access_token" in ok.get_json()


def test_oauth_server_app_info(sandbox, token):
    body = sandbox.oauth.get("/rest/app.info", query_string={"auth": token}).get_json()
    reference = reference_fixture("bitrix24/app_info_response.json")["oauth_server_app_info"]["response"]["body"]
    assert set(body["result"]) == set(reference["result"])
    assert set(body["result"]["install"]) == set(reference["result"]["install"])
    assert body["result"]["client_id"] == CLIENT_ID
    assert body["result"]["install"]["member_id"] == sandbox.portal_state.member_id
    assert body["result"]["install"]["domain"] == f"127.0.0.1:{PORTAL_PORT}"
    assert body["result"]["user_id"] == 1
    bad = sandbox.oauth.get("/rest/app.info", query_string={"auth": "garbage"})
    assert bad.status_code == 401 and bad.get_json()["error"] == "invalid_token"
    sandbox.clock.advance(3601)
    expired = sandbox.oauth.get("/rest/app.info", query_string={"auth": token})
    assert expired.status_code == 401 and expired.get_json()["error"] == "expired_token"
    assert sandbox.oauth.get("/sandbox/stats.json").get_json()["app_info_requests"] == 3


def test_refresh_after_uninstall_is_not_installed(sandbox):
    first = sandbox.installed_tokens()
    sandbox.control(uninstall=True)
    response = sandbox.token(grant_type="refresh_token", refresh_token=first["refresh_token"])
    assert response.status_code == 401 and response.get_json()["error"] == "NOT_INSTALLED"
