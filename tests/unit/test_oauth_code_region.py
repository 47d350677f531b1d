"""I1: a consent code is exchanged at the portal's own region server, named by the redirect's server_domain.

Two authorization servers are faked with `responses`: the global oauth.bitrix.info (B24_OAUTH_URL in the
tests) and the Russian oauth.bitrix24.tech. A code is valid only at the server that issued it, so a Russian
portal's code sent to the global server would fail on a real Bitrix24.
"""
from __future__ import annotations

from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
import responses

from bx_app.extensions import db
from bx_app.installation import UntrustedOAuthServer, oauth_token_url, oauth_token_url_for_domain
from bx_app.models import Credential, Portal, UisAccount
from bx_app.models.account import PortalStatus
from bx_app.models.timeutil import utcnow
from bx_app.web import b24_oauth
from tests.conftest import TEST_CONFIG, reference_fixture

GLOBAL_TOKEN_URL = "https://oauth.bitrix.info/oauth/token/"
RU_TOKEN_URL = "https://oauth.bitrix24.tech/oauth/token/"
PORTAL = "example.bitrix24.ru"
MEMBER_ID = "e31ab643c44f7a0ec824b59d1194d60d"
REDIRECT = reference_fixture("bitrix24/oauth_authorize_redirect.json")["step2_query"]


def token_body(server: str) -> dict:
    body = dict(reference_fixture("bitrix24/oauth_token_response.json")["authorization_code"]["response"]["body"])
    body["expires"] = int((utcnow() + timedelta(hours=1)).timestamp()) + 10 ** 7
    body["domain"], body["server_endpoint"] = server, f"https://{server}/rest/"
    return body


@pytest.fixture
def servers():
    """Both Bitrix24 authorization servers; each answers only the codes it issued."""
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        rsps.get(GLOBAL_TOKEN_URL, json=token_body("oauth.bitrix.info"))
        rsps.get(RU_TOKEN_URL, json=token_body("oauth.bitrix24.tech"))
        yield rsps


def asked(rsps) -> list[str]:
    return [f"{urlsplit(c.request.url).netloc}" for c in rsps.calls]


def reconnect_state(app, portal: Portal) -> str:
    with app.test_request_context():
        return b24_oauth._state_serializer().dumps({"purpose": "reconnect", "portal_id": portal.id})


@pytest.fixture
def ru_portal(app) -> Portal:
    portal = Portal(member_id=MEMBER_ID, domain=PORTAL, client_endpoint=f"https://{PORTAL}/rest/",
                    status=PortalStatus.NEEDS_REAUTH, server_endpoint="https://oauth.bitrix24.tech/rest/")
    db.session.add(portal)
    db.session.commit()
    return portal


def test_I1_a_russian_portals_code_goes_to_the_russian_server(app, client, servers, ru_portal):
    query = dict(REDIRECT, state=reconnect_state(app, ru_portal))  # the reference redirect: oauth.bitrix24.tech
    response = client.get("/b24/oauth/callback", query_string=query)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert asked(servers) == ["oauth.bitrix24.tech"]
    code_query = parse_qs(urlsplit(servers.calls[0].request.url).query)
    assert code_query["grant_type"] == ["authorization_code"] and code_query["code"] == [REDIRECT["code"]]
    db.session.expire_all()
    portal = db.session.get(Portal, ru_portal.id)
    assert portal.status == PortalStatus.INSTALLED
    assert portal.server_endpoint == "https://oauth.bitrix24.tech/rest/"  # refresh goes there too


def test_I1_a_global_portals_code_goes_to_the_global_server(app, client, servers, ru_portal):
    query = dict(REDIRECT, server_domain="oauth.bitrix.info", state=reconnect_state(app, ru_portal))
    assert client.get("/b24/oauth/callback", query_string=query).status_code == 200
    assert asked(servers) == ["oauth.bitrix.info"]


@pytest.mark.parametrize("server_domain", ["evil.example.com", "oauth.bitrix24.tech.evil.com",
                                           "oauth.bitrix24.tech:8443", "127.0.0.1"])
def test_I1_an_untrusted_server_domain_is_refused_and_nothing_is_sent(app, client, servers, ru_portal,
                                                                     server_domain):
    query = dict(REDIRECT, server_domain=server_domain, state=reconnect_state(app, ru_portal))
    response = client.get("/b24/oauth/callback", query_string=query)
    assert response.status_code == 400
    assert "Неизвестный сервер авторизации" in response.get_data(as_text=True)
    assert asked(servers) == []
    db.session.expire_all()
    assert db.session.get(Portal, ru_portal.id).status == PortalStatus.NEEDS_REAUTH


def test_I1_uis_side_connect_exchanges_at_the_portals_region(app, client, servers):
    account = UisAccount(app_id=1103425, name="ООО «Пример»", timezone="Europe/Moscow", data_api_token="k")
    db.session.add(account)
    db.session.commit()
    with client.session_transaction() as session:
        session["uis_account_id"] = account.id
    servers.head(f"https://{PORTAL}/", status=200)
    start = client.post("/uis/connect", data={"name": "Основной", "portal": PORTAL})
    assert start.status_code == 302
    state = parse_qs(urlsplit(start.headers["Location"]).query)["state"][0]
    response = client.get("/b24/oauth/callback", query_string=dict(REDIRECT, state=state))
    assert response.status_code == 302 and "/uis/credentials" in response.headers["Location"]
    assert [h for h in asked(servers) if h.startswith("oauth.")] == ["oauth.bitrix24.tech"]
    assert Credential.query.one().portal.server_endpoint == "https://oauth.bitrix24.tech/rest/"


def test_I1_uis_side_untrusted_server_goes_back_to_the_form_with_the_reason(app, client, servers):
    account = UisAccount(app_id=1103425, name="ООО «Пример»", timezone="Europe/Moscow", data_api_token="k")
    db.session.add(account)
    db.session.commit()
    with client.session_transaction() as session:
        session["uis_account_id"] = account.id
    servers.head(f"https://{PORTAL}/", status=200)
    start = client.post("/uis/connect", data={"name": "Основной", "portal": PORTAL})
    state = parse_qs(urlsplit(start.headers["Location"]).query)["state"][0]
    response = client.get("/b24/oauth/callback",
                          query_string=dict(REDIRECT, server_domain="oauth.evil.example", state=state))
    assert response.status_code == 302 and "/uis/connect" in response.headers["Location"]
    assert "oauth.evil.example" in client.get(response.headers["Location"]).get_data(as_text=True)
    assert not [h for h in asked(servers) if h.startswith("oauth.")]
    assert Portal.query.count() == 0


def test_I1_development_override_and_missing_server_domain():
    sandbox = dict(TEST_CONFIG, B24_OAUTH_URL="http://127.0.0.1:8090/oauth/token/",
                   B24_EXTRA_OAUTH_URLS=["http://127.0.0.1:8091/oauth/token/"])
    assert oauth_token_url_for_domain("127.0.0.1:8090", sandbox) == "http://127.0.0.1:8090/oauth/token/"
    assert oauth_token_url_for_domain("127.0.0.1:8091", sandbox) == "http://127.0.0.1:8091/oauth/token/"
    assert oauth_token_url_for_domain("oauth.bitrix24.tech", sandbox) == RU_TOKEN_URL
    assert oauth_token_url_for_domain(None, sandbox) == "http://127.0.0.1:8090/oauth/token/"
    with pytest.raises(UntrustedOAuthServer):
        oauth_token_url_for_domain("127.0.0.1:8092", sandbox)
    # Install verification and refresh select among the same servers by SERVER_ENDPOINT.
    assert oauth_token_url("http://127.0.0.1:8091/rest/", sandbox) == "http://127.0.0.1:8091/oauth/token/"
    assert oauth_token_url("http://127.0.0.1:8092/rest/", sandbox) == "http://127.0.0.1:8090/oauth/token/"
