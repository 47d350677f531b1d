"""OAuthServer: authorize URL, code exchange, refresh (GET with query) and app.info, with typed errors."""
from __future__ import annotations

from datetime import datetime
from urllib.parse import parse_qs, urlsplit

import pytest
import responses

from bx_app.bitrix import errors as e
from bx_app.bitrix.oauth import OAuthServer, TokenSet
from tests.conftest import reference_fixture

TOKEN_URL = "https://oauth.bitrix24.tech/oauth/token/"
CLIENT_ID = "app.6650a1b2c3d4e5.12345678"
SECRET = "q8Lr2Vt6Yb0Nm4Kx7Pz1Hc5Jw9Ds3Fg6Ue0Ia2Ob4Qn8Rk1Tl"


@pytest.fixture
def server():
    return OAuthServer(TOKEN_URL, CLIENT_ID, SECRET)


def query_of(call):
    return {k: v[0] for k, v in parse_qs(urlsplit(call.request.url).query).items()}


def test_authorize_url(server):
    url = server.authorize_url("https://example.bitrix24.ru/", "s t&x")
    assert url == f"https://example.bitrix24.ru/oauth/authorize/?client_id={CLIENT_ID}&state=s+t%26x"


@pytest.mark.parametrize("token_url, app_info", [
    ("http://127.0.0.1:8090/oauth/token/", "http://127.0.0.1:8090/rest/app.info"),
    ("https://oauth.bitrix.info/oauth/token/", "https://oauth.bitrix.info/rest/app.info"),
    ("https://oauth.bitrix24.tech/oauth/token", "https://oauth.bitrix24.tech/rest/app.info"),
])
def test_app_info_url_is_derived_from_token_url(token_url, app_info):
    assert OAuthServer(token_url, "c", "s").app_info_url == app_info


@responses.activate
def test_exchange_code_uses_get_with_query(server):
    fixture = reference_fixture("bitrix24/oauth_token_response.json")["authorization_code"]
    responses.get(TOKEN_URL, json=fixture["response"]["body"])
    tokens = server.exchange_code("c0de5a7b9e1f4d2a8b6c3e0f1a2b3c4d")
    assert responses.calls[0].request.method == "GET"
    expected = query_of(type("C", (), {"request": type("R", (), {"url": fixture["request"]["url"]})})())
    assert query_of(responses.calls[0]) == expected
    body = fixture["response"]["body"]
    assert tokens == TokenSet(
        access_token=body["access_token"], refresh_token=body["refresh_token"],
        expires_at=datetime(2026, 3, 2, 8, 15, 40), member_id=body["member_id"],
        client_endpoint="https://example.bitrix24.ru/rest/", server_endpoint="https://oauth.bitrix24.tech/rest/",
        scope="crm,user,im,telephony,placement", user_id=1, domain="oauth.bitrix24.tech", status="P")
    assert tokens.expires_at.tzinfo is None


@responses.activate
def test_refresh(server):
    fixture = reference_fixture("bitrix24/oauth_token_response.json")["refresh_token"]
    responses.get(TOKEN_URL, json=fixture["response"]["body"])
    tokens = server.refresh("f8ad378f0071c3e20058f18a0000000100000599ece7fc8b37fb19a395f705568462d6")
    q = query_of(responses.calls[0])
    assert q == {"grant_type": "refresh_token", "client_id": CLIENT_ID, "client_secret": SECRET,
                 "refresh_token": "f8ad378f0071c3e20058f18a0000000100000599ece7fc8b37fb19a395f705568462d6"}
    assert tokens.access_token == fixture["response"]["body"]["access_token"]
    assert tokens.refresh_token == fixture["response"]["body"]["refresh_token"]


@responses.activate
def test_token_without_expires_uses_expires_in(server):
    responses.get(TOKEN_URL, json={"access_token": "a", "refresh_token": "r", "expires_in": 3600})
    tokens = server.refresh("r0")
    assert 3500 < tokens.expires_in <= 3600


EXPECTED = {
    "invalid_grant": e.InvalidGrant, "invalid_client": e.InvalidClient, "wrong_client": e.WrongClient,
    "invalid_request": e.InvalidRequest, "PAYMENT_REQUIRED": e.PaymentRequired, "NOT_INSTALLED": e.NotInstalled,
    "INVALID_SCOPE": e.InvalidScope,
}


@pytest.mark.parametrize("case", reference_fixture("bitrix24/oauth_token_errors.json")["cases"],
                         ids=lambda c: c["body"]["error"])
@responses.activate
def test_token_errors_are_typed(server, case):
    responses.get(TOKEN_URL, status=case["http_status"], json=case["body"])
    with pytest.raises(e.BitrixError) as info:
        server.refresh("some-refresh-token")
    assert type(info.value) is EXPECTED[case["body"]["error"]]
    assert info.value.http_status == case["http_status"]


@responses.activate
def test_token_endpoint_5xx_and_garbage(server):
    responses.get(TOKEN_URL, status=502, body="<html>bad gateway</html>")
    with pytest.raises(e.ServerError):
        server.refresh("r")


def test_refresh_without_token_is_refused(server):
    with pytest.raises(e.InvalidRequest):
        server.refresh("")


@responses.activate
def test_app_info(server):
    fixture = reference_fixture("bitrix24/app_info_response.json")["oauth_server_app_info"]
    responses.get("https://oauth.bitrix24.tech/rest/app.info", json=fixture["response"]["body"])
    info = server.app_info("85eb55480071c3e20058f18a00000001000006bf7e33bd76e28862f4892d67907f224b")
    assert info["client_id"] == CLIENT_ID and info["install"]["member_id"] == "e31ab643c44f7a0ec824b59d1194d60d"
    assert query_of(responses.calls[0]) == {"auth": "85eb55480071c3e20058f18a00000001000006bf7e33bd76e28862f4892d67907f224b"}


@responses.activate
def test_app_info_errors(server):
    responses.get("https://oauth.bitrix24.tech/rest/app.info", status=401,
                  json={"error": "invalid_token", "error_description": "Unable to get application by token"})
    with pytest.raises(e.InvalidToken):
        server.app_info("bad")
