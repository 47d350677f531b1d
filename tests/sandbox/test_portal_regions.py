"""Two authorization servers (global and Russian), each portal belonging to one (§2): install, I1 and refresh
go to the portal's own server, and a code or token shown to the other server is unknown there."""
from __future__ import annotations

import time
from urllib.parse import parse_qs, urlsplit

import pytest
import responses

from bx_app.sandbox import __main__ as launcher
from bx_app.sandbox.portal import RU_REGION, create_oauth_app, create_sandbox
from bx_app.sandbox.portal.events import uninstall_event_form
from tests.conftest import reference_fixture
from tests.sandbox.portal_fixtures import FakeClock

APP_URL = "http://localhost:8000"
CLIENT_ID, CLIENT_SECRET = "app.sandbox.uis20", "sandbox-secret"
GLOBAL_PORT, RU_PORT = 8090, 8093
GLOBAL_PORTAL, RU_PORTAL = 8081, 8082


class TwoRegions:
    def __init__(self) -> None:
        oauth_app, portal_apps, self.state = create_sandbox(
            APP_URL, CLIENT_ID, CLIENT_SECRET, GLOBAL_PORT, [GLOBAL_PORTAL, RU_PORTAL],
            ru_oauth_port=RU_PORT, ru_portal_ports=[RU_PORTAL])
        self.clock = FakeClock()
        self.state.clock = self.clock
        self.servers = {"global": oauth_app.test_client(),
                        "ru": create_oauth_app(self.state, RU_REGION).test_client()}
        self.portals = {port: app.test_client() for port, app in portal_apps.items()}

    def token(self, region: str, **values):
        return self.servers[region].get("/oauth/token/", query_string={
            "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, **values})

    def tokens(self, port: int, user_id: int = 1) -> dict:
        response = self.portals[port].post("/sandbox/control", json={"install": True,
                                                                     "issue_tokens": {"user_id": user_id}})
        return response.get_json()["tokens"]

    def consent(self, port: int) -> dict:
        response = self.portals[port].post(f"/oauth/authorize/?client_id={CLIENT_ID}&state=s&user=1",
                                           data={"decision": "allow"})
        return {k: v[0] for k, v in parse_qs(urlsplit(response.headers["Location"]).query).items()}


@pytest.fixture
def regions() -> TwoRegions:
    return TwoRegions()


ENDPOINT = {"global": f"http://127.0.0.1:{GLOBAL_PORT}/rest/", "ru": f"http://127.0.0.1:{RU_PORT}/rest/"}
PORTAL_REGION = [(GLOBAL_PORTAL, "global", "ru"), (RU_PORTAL, "ru", "global")]


@pytest.mark.parametrize("port, own, other", PORTAL_REGION)
def test_install_names_the_portals_own_server(regions, port, own, other):
    launch = regions.portals[port].get("/sandbox/portal/launch.json?user=1").get_json()
    assert launch["fields"]["SERVER_ENDPOINT"] == ENDPOINT[own]
    with responses.RequestsMock() as mocked:
        mocked.add(responses.POST, f"{APP_URL}/install", body="ok")
        regions.portals[port].post("/sandbox/portal/install-finish", json={"app_sid": launch["app_sid"]})
        deadline = time.monotonic() + 5
        while not regions.state.portals[port].deliveries[0]["done"] and time.monotonic() < deadline:
            time.sleep(0.01)
        form = {k: v[0] for k, v in parse_qs(mocked.calls[0].request.body).items()}
    assert form["auth[server_endpoint]"] == ENDPOINT[own]
    # the installer verifies its token with app.info at the server SERVER_ENDPOINT names, and only there
    token = launch["fields"]["AUTH_ID"]
    mine = regions.servers[own].get("/rest/app.info", query_string={"auth": token})
    assert mine.status_code == 200 and mine.get_json()["result"]["install"]["member_id"] == form["auth[member_id]"]
    theirs = regions.servers[other].get("/rest/app.info", query_string={"auth": token})
    assert (theirs.status_code, theirs.get_json()["error"]) == (401, "invalid_token")


@pytest.mark.parametrize("port, own, other", PORTAL_REGION)
def test_consent_code_is_exchanged_only_at_the_portals_server(regions, port, own, other):
    query = regions.consent(port)
    assert query["server_domain"] == f"127.0.0.1:{GLOBAL_PORT if own == 'global' else RU_PORT}"
    wrong = regions.token(other, grant_type="authorization_code", code=query["code"])
    assert (wrong.status_code, wrong.get_json()) == (400, {"error": "invalid_grant", "error_description": "Invalid grant"})
    right = regions.token(own, grant_type="authorization_code", code=query["code"])
    assert right.status_code == 200  # the wrong server did not spend the code
    body = right.get_json()
    reference = reference_fixture("bitrix24/oauth_token_response.json")["authorization_code"]["response"]["body"]
    assert list(body) == list(reference)
    assert body["server_endpoint"] == ENDPOINT[own] and body["domain"] == query["server_domain"]
    assert body["client_endpoint"] == f"http://127.0.0.1:{port}/rest/"


@pytest.mark.parametrize("port, own, other", PORTAL_REGION)
def test_refresh_only_at_the_portals_server(regions, port, own, other):
    first = regions.tokens(port)
    assert first["server_endpoint"] == ENDPOINT[own]
    wrong = regions.token(other, grant_type="refresh_token", refresh_token=first["refresh_token"])
    assert (wrong.status_code, wrong.get_json()["error"]) == (400, "invalid_grant")
    right = regions.token(own, grant_type="refresh_token", refresh_token=first["refresh_token"])
    assert right.status_code == 200 and right.get_json()["server_endpoint"] == ENDPOINT[own]
    stats = {region: client.get("/sandbox/stats.json").get_json() for region, client in regions.servers.items()}
    assert stats[own]["token_requests"] == {"refresh_token": 1} and stats[own]["token_errors"] == {}
    assert stats[other]["token_errors"] == {"invalid_grant": 1}
    assert stats[own]["server_endpoint"] == ENDPOINT[own]
    assert list(stats[own]["portals"]) == [str(port)]


def test_events_and_state_carry_the_region(regions):
    state = regions.portals[RU_PORTAL].get("/sandbox/state.json").get_json()
    assert state["region"] == "ru"
    assert regions.portals[GLOBAL_PORTAL].get("/sandbox/state.json").get_json()["region"] == "global"
    with regions.state.lock:
        form = uninstall_event_form(regions.state, regions.state.portals[RU_PORTAL], 1, False)
    assert form["auth[server_endpoint]"] == ENDPOINT["ru"]


def test_without_a_russian_server_every_portal_is_global():
    _, _, state = create_sandbox(APP_URL, CLIENT_ID, CLIENT_SECRET, GLOBAL_PORT, [GLOBAL_PORTAL, RU_PORTAL])
    assert {p.region for p in state.portals.values()} == {"global"} and list(state.servers) == ["global"]


def test_launcher_region_options(monkeypatch):
    args = launcher.parse_args(["--portal-ports", "9001,9002,9003"])
    assert args.ru_oauth_port == 0 and launcher.ru_portal_ports(args, [9001, 9002, 9003]) == []
    args = launcher.parse_args(["--ru-oauth-port", "9200"])
    assert launcher.ru_portal_ports(args, [9001, 9002, 9003]) == [9002, 9003]  # every portal but the first
    monkeypatch.setenv("SANDBOX_RU_PORTAL_PORTS", "9001")
    args = launcher.parse_args(["--ru-oauth-port", "9200"])
    assert launcher.ru_portal_ports(args, [9001, 9002]) == [9001]
    with pytest.raises(ValueError):
        create_sandbox(APP_URL, CLIENT_ID, CLIENT_SECRET, GLOBAL_PORT, [9001], ru_oauth_port=9200,
                       ru_portal_ports=[9005])
