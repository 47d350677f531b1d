"""Fixtures for the Bitrix24 sandbox tests: the OAuth server and two portals behind Flask test clients."""
from __future__ import annotations

from dataclasses import dataclass

import pytest
from flask.testing import FlaskClient

from bx_app.sandbox.portal import SandboxState, create_sandbox

APP_URL = "http://localhost:8000"
CLIENT_ID = "app.sandbox.uis20"
CLIENT_SECRET = "sandbox-secret"
OAUTH_PORT = 8090
PORTAL_PORT = 8081
OTHER_PORTAL_PORT = 8082


class FakeClock:
    def __init__(self, start: float = 1_772_435_707.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class Sandbox:
    state: SandboxState
    oauth: FlaskClient
    portal: FlaskClient
    other_portal: FlaskClient
    clock: FakeClock

    @property
    def portal_state(self):
        return self.state.portals[PORTAL_PORT]

    def control(self, **data) -> dict:
        response = self.portal.post("/sandbox/control", json=data)
        assert response.status_code == 200, response.get_json()
        return response.get_json()

    def installed_tokens(self, user_id: int = 1) -> dict:
        """Install without the iframe and hand back a token response for `user_id`."""
        return self.control(install=True, issue_tokens={"user_id": user_id})["tokens"]

    def rest(self, method: str, token: str, **params):
        return self.portal.post(f"/rest/{method}.json", json={**params, "auth": token})

    def token(self, **values):
        return self.oauth.get("/oauth/token/", query_string={"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET,
                                                             **values})


@pytest.fixture
def sandbox() -> Sandbox:
    oauth_app, portal_apps, state = create_sandbox(APP_URL, CLIENT_ID, CLIENT_SECRET, OAUTH_PORT,
                                                   [PORTAL_PORT, OTHER_PORTAL_PORT])
    clock = FakeClock()
    state.clock = clock
    return Sandbox(state=state, oauth=oauth_app.test_client(), portal=portal_apps[PORTAL_PORT].test_client(),
                   other_portal=portal_apps[OTHER_PORTAL_PORT].test_client(), clock=clock)


@pytest.fixture
def token(sandbox: Sandbox) -> str:
    return sandbox.installed_tokens()["access_token"]
