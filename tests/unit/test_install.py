"""P2/I2: the marketplace install, the ONAPPINSTALL event (either order, twice), uninstall and re-install."""
from __future__ import annotations

import pytest
import responses

from bx_app.models import Credential, Portal
from bx_app.models.account import PortalStatus
from tests.unit.portal_fakes import (
    APP_TOKEN,
    MEMBER_ID,
    FakeBitrix,
    app_info_body,
    iframe_post,
    install_event,
    uninstall_event,
)

IFRAME_TOKEN = "85eb55480071c3e20058f18a00000001000006bf7e33bd76e28862f4892d67907f224b"
EVENT_TOKEN = "46a4a7450071c3e20058f18a000000010000001809ad319a19329187eb77fe9bae7b66"


@pytest.fixture
def bitrix():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        yield FakeBitrix(rsps, valid_tokens={IFRAME_TOKEN, EVENT_TOKEN})


def post_iframe(client, path="/install", **overrides):
    query, form = iframe_post(**overrides)
    return client.post(path, query_string=query, data=form)


def test_P2_iframe_install_creates_portal_and_credential_and_calls_install_finish(client, bitrix):
    response = post_iframe(client)
    assert response.status_code == 200, response.data
    page = response.get_data(as_text=True)
    assert '<script src="/static/install.js"></script>' in page  # no inline script: the CSP allows none
    assert "BX24.installFinish()" in client.get("/static/install.js").get_data(as_text=True)
    assert "/uis/claim/" in page  # I2: finish setup on the UIS side
    portal = Portal.query.one()
    assert portal.member_id == MEMBER_ID
    assert portal.status == PortalStatus.INSTALLED
    assert portal.access_token == IFRAME_TOKEN
    assert portal.application_token == APP_TOKEN
    assert portal.client_endpoint == "https://example.bitrix24.ru/rest/"
    credential = Credential.query.one()
    assert credential.portal_id == portal.id and credential.origin == "marketplace"
    assert [c for c in bitrix.calls if c[0] == "event.bind"][0][1]["event"] == "ONAPPUNINSTALL"
    assert "frame-ancestors https://example.bitrix24.ru" in response.headers["Content-Security-Policy"]


def test_P2_install_page_speaks_the_portal_language(client, bitrix):
    response = post_iframe(client, LANG="en")
    assert "The UIS 2.0 app is installed" in response.get_data(as_text=True)


@pytest.mark.parametrize("order", [("iframe", "event"), ("event", "iframe")])
def test_P2_install_in_either_order_and_twice_is_idempotent(client, bitrix, order):
    for step in order + order:
        if step == "iframe":
            assert post_iframe(client).status_code == 200
        else:
            response = client.post("/install", data=install_event())
            assert response.status_code == 200, response.data
    assert Portal.query.count() == 1
    assert Credential.query.count() == 1
    binds = [c for c in bitrix.calls if c[0] == "event.bind"]
    assert len(binds) == 1  # bound once, found by event.get afterwards


def test_P2_onappinstall_alone_installs(client, bitrix):
    response = client.post("/install", data=install_event())
    assert response.status_code == 200
    portal = Portal.query.one()
    assert portal.refresh_token.startswith("f8ad378f")
    assert portal.installer_user_id == 1


def test_uninstall_marks_portal_and_reinstall_revives_same_credential(client, bitrix):
    post_iframe(client)
    credential_id = Credential.query.one().id
    # Without "delete data" (data[CLEAN]=0): the portal's data waits out the grace period.
    response = client.post("/b24/events", data=uninstall_event(**{"data[CLEAN]": "0"}))
    assert response.status_code == 200
    portal = Portal.query.one()
    assert portal.status == PortalStatus.UNINSTALLED
    assert portal.access_token is None and portal.refresh_token is None
    post_iframe(client)
    portal = Portal.query.one()
    assert portal.status == PortalStatus.INSTALLED
    assert Credential.query.one().id == credential_id


def test_uninstall_with_wrong_application_token_is_refused(client, bitrix):
    post_iframe(client)
    response = client.post("/b24/events", data=uninstall_event(**{"auth[application_token]": "forged"}))
    assert response.status_code == 403
    assert Portal.query.one().status == PortalStatus.INSTALLED


def test_uninstall_of_unknown_portal_is_refused(client, bitrix):
    response = client.post("/b24/events", data=uninstall_event(**{"auth[member_id]": "0" * 32}))
    assert response.status_code == 404


def test_forged_token_rejected_by_app_info_stores_nothing(client, bitrix):
    response = post_iframe(client, auth_id="forged-token")
    assert response.status_code == 403
    assert Portal.query.count() == 0


def test_token_of_another_application_is_refused(client, bitrix):
    bitrix.app_info = app_info_body(client_id="app.someone.else")
    assert post_iframe(client).status_code == 403
    assert Portal.query.count() == 0


def test_member_id_mismatch_is_refused(client, bitrix):
    assert post_iframe(client, member_id="ffffffffffffffffffffffffffffffff").status_code == 403
    assert Portal.query.count() == 0


def test_domain_mismatch_is_refused(client, bitrix):
    assert post_iframe(client, DOMAIN="evil.bitrix24.ru").status_code == 403
    assert Portal.query.count() == 0


def test_server_endpoint_cannot_name_its_own_authorization_server(client, bitrix):
    # An attacker's SERVER_ENDPOINT is not on the allow-list: the configured server is asked instead.
    response = post_iframe(client, SERVER_ENDPOINT="https://evil.example.com/rest/", AUTH_ID="forged")
    assert response.status_code == 403
    assert all("evil.example.com" not in call.request.url for call in bitrix.rsps.calls)


@pytest.mark.parametrize("missing", ["AUTH_ID", "member_id", "DOMAIN"])
def test_missing_field_is_named(client, bitrix, missing):
    response = post_iframe(client, **{missing: None})
    assert response.status_code == 400
    assert missing in response.get_data(as_text=True)
    assert Portal.query.count() == 0


@pytest.mark.parametrize("domain,protocol", [("127.0.0.1:8081", "1"), ("example.bitrix24.ru", "0"),
                                             ("localhost", "1"), ("10.0.0.5", "1")])
def test_insecure_or_loopback_portal_refused_unless_allowed(client, bitrix, domain, protocol):
    response = post_iframe(client, DOMAIN=domain, PROTOCOL=protocol)
    assert response.status_code == 400
    assert Portal.query.count() == 0


def test_event_with_unverifiable_token_is_refused(client, bitrix):
    response = client.post("/install", data=install_event(access_token="forged"))
    assert response.status_code == 403
    assert Portal.query.count() == 0


def test_no_500_on_garbage(client, bitrix):
    assert client.post("/install", data="x=%ZZ", content_type="application/x-www-form-urlencoded").status_code == 400
    assert client.post("/b24/events", data={}).status_code == 400
    assert client.post("/app", data={}).status_code == 400
