"""Install, open and uninstall the app on a sandbox portal; event delivery; BX24.js; the launcher."""
from __future__ import annotations

import time
from urllib.parse import parse_qs, urlsplit

import responses

from bx_app.sandbox import __main__ as launcher
from tests.conftest import reference_fixture

pytest_plugins = ["tests.sandbox.portal_fixtures"]
APP_URL = "http://localhost:8000"  # as in portal_fixtures
OAUTH_PORT = 8090  # as in portal_fixtures
PORTAL_PORT = 8081  # as in portal_fixtures


def _wait_for_deliveries(sandbox, count: int) -> list[dict]:
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        with sandbox.state.lock:
            deliveries = [dict(d) for d in sandbox.portal_state.deliveries]
        if len(deliveries) >= count and all(d["done"] for d in deliveries):
            return deliveries
        time.sleep(0.01)
    raise AssertionError(f"deliveries did not finish: {deliveries}")


def _form(call) -> dict:
    return {k: v[0] for k, v in parse_qs(call.request.body, keep_blank_values=True).items()}


def test_admin_install_sequence(sandbox):
    page = sandbox.portal.get("/?view=app&user=1")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert 'id="app-launch"' in html and f'action="{APP_URL}/install?DOMAIN=127.0.0.1%3A{PORTAL_PORT}' in html

    launch = sandbox.portal.get("/sandbox/portal/launch.json?user=1").get_json()
    action = urlsplit(launch["action"])
    query = {k: v[0] for k, v in parse_qs(action.query).items()}
    assert f"{action.scheme}://{action.netloc}{action.path}" == f"{APP_URL}/install"
    assert query["DOMAIN"] == f"127.0.0.1:{PORTAL_PORT}" and query["PROTOCOL"] == "0" and query["LANG"] == "ru"
    assert query["APP_SID"] == launch["app_sid"]
    reference = reference_fixture("bitrix24/install_iframe_post.json")["request"]["form"]
    assert set(reference) <= set(launch["fields"])
    fields = launch["fields"]
    assert fields["SERVER_ENDPOINT"] == f"http://127.0.0.1:{OAUTH_PORT}/rest/"
    assert fields["PLACEMENT"] == "DEFAULT" and fields["status"] == "L"
    assert all(isinstance(v, str) for v in fields.values())
    assert not sandbox.portal_state.installed

    # the installer page binds ONAPPUNINSTALL with its token before installFinish
    bind = sandbox.rest("event.bind", fields["AUTH_ID"], event="ONAPPUNINSTALL", handler=f"{APP_URL}/b24/events")
    assert bind.get_json()["result"] is True

    with responses.RequestsMock() as mocked:
        mocked.add(responses.POST, f"{APP_URL}/install", body="ok")
        finish = sandbox.portal.post("/sandbox/portal/install-finish", json={"app_sid": launch["app_sid"]})
        assert finish.get_json() == {"ok": True}
        deliveries = _wait_for_deliveries(sandbox, 1)
        assert deliveries[0]["status"] == 200
        event = _form(mocked.calls[0])
    expected = reference_fixture("bitrix24/onappinstall_event.json")["request"]["form_fields"]
    assert set(event) == set(expected)
    assert event["event"] == "ONAPPINSTALL"
    assert event["auth[application_token]"] == fields["APPLICATION_TOKEN"]
    assert event["auth[member_id]"] == fields["member_id"]
    assert event["auth[client_endpoint]"] == f"http://127.0.0.1:{PORTAL_PORT}/rest/"
    assert event["auth[access_token]"] != fields["AUTH_ID"]  # fresh tokens
    assert sandbox.rest("profile", event["auth[access_token]"]).status_code == 200
    assert sandbox.portal_state.installed
    # a second installFinish for the same frame is not an install
    assert sandbox.portal.post("/sandbox/portal/install-finish", json={"app_sid": "nope"}).status_code == 400

    # afterwards the app item opens the app, for whoever is looking
    opened = sandbox.portal.get("/sandbox/portal/launch.json?user=7&lang=en").get_json()
    assert opened["action"].startswith(f"{APP_URL}/app?DOMAIN=127.0.0.1%3A{PORTAL_PORT}&PROTOCOL=0&LANG=en&APP_SID=")
    assert opened["fields"]["APPLICATION_TOKEN"] == fields["APPLICATION_TOKEN"]
    assert opened["init"]["IS_ADMIN"] is False and opened["init"]["USER_ID"] == 7
    who = sandbox.rest("profile", opened["fields"]["AUTH_ID"]).get_json()["result"]
    assert who["ID"] == "7" and who["ADMIN"] is False
    app_page = sandbox.portal.get("/?view=app&user=7&lang=en").get_data(as_text=True)
    assert f"{APP_URL}/app?DOMAIN=" in app_page


def test_non_admin_sees_not_fully_installed(sandbox):
    page = sandbox.portal.get("/?view=app&user=7").get_data(as_text=True)
    assert 'id="not-installed-notice"' in page and "app-launch" not in page
    assert sandbox.portal.get("/sandbox/portal/launch.json?user=7").status_code == 403


def test_uninstall_delivers_onappuninstall_and_revokes_tokens(sandbox):
    tokens = sandbox.installed_tokens()
    handler = f"{APP_URL}/b24/events"
    sandbox.rest("event.bind", tokens["access_token"], event="ONAPPUNINSTALL", handler=handler)
    application_token = sandbox.portal_state.application_token
    with responses.RequestsMock() as mocked:
        mocked.add(responses.POST, handler, body="ok")
        response = sandbox.portal.post("/sandbox/portal/uninstall?user=1", data={"clean": "1"})
        assert response.status_code == 302
        _wait_for_deliveries(sandbox, 1)
        event = _form(mocked.calls[0])
    expected = reference_fixture("bitrix24/onappuninstall_event.json")["request"]["form_fields"]
    assert set(event) == set(expected)
    assert event["event"] == "ONAPPUNINSTALL" and event["data[CLEAN]"] == "1"
    assert event["auth[application_token]"] == application_token
    assert not sandbox.portal_state.installed and sandbox.portal_state.bound_events == []
    revoked = sandbox.rest("profile", tokens["access_token"])
    assert revoked.status_code == 401 and revoked.get_json()["error"] == "ERROR_OAUTH"
    # re-install: new tokens, the same application_token (documented choice)
    again = sandbox.installed_tokens()
    assert again["access_token"] != tokens["access_token"]
    assert sandbox.portal_state.application_token == application_token
    assert sandbox.rest("profile", tokens["access_token"]).get_json()["error"] == "invalid_token"


def test_a_failed_delivery_is_recorded_not_retried(sandbox):
    tokens = sandbox.installed_tokens()
    sandbox.rest("event.bind", tokens["access_token"], event="ONAPPUNINSTALL", handler=f"{APP_URL}/b24/events")
    with responses.RequestsMock() as mocked:
        mocked.add(responses.POST, f"{APP_URL}/b24/events", status=500)
        sandbox.control(uninstall=True)
        deliveries = _wait_for_deliveries(sandbox, 1)
    assert deliveries[0]["status"] == 500 and len(deliveries) == 1


def test_portal_pages_render(sandbox):
    sandbox.installed_tokens()
    for path in ("/", "/?view=apps", "/?lang=en&user=7", "/crm/?tab=leads", "/crm/?tab=notifications",
                 "/crm/?tab=deals&lang=en"):
        response = sandbox.portal.get(path)
        assert response.status_code == 200, path
    home = sandbox.portal.get("/").get_data(as_text=True)
    assert "CRM" in home and 'id="menu-app"' in home and 'id="uninstall-button"' in home


def test_bx24_js_is_served_as_a_script_with_cors(sandbox):
    script = sandbox.portal.get("/bx24.js")
    assert script.status_code == 200
    assert script.mimetype == "application/javascript"
    assert script.headers["Access-Control-Allow-Origin"] == "*"
    text = script.get_data(as_text=True)
    for name in ("init", "installFinish", "fitWindow", "resizeWindow", "getAuth", "refreshAuth", "callMethod",
                 "selectUser", "selectUsers", "isAdmin", "closeApplication", "getLang"):
        assert f"{name}:" in text, name
    preflight = sandbox.portal.open("/rest/profile", method="OPTIONS")
    assert preflight.status_code == 204 and preflight.headers["Access-Control-Allow-Origin"] == "*"


def test_launcher_options_and_uis_factory(monkeypatch):
    monkeypatch.setenv("SANDBOX_PORTAL_PORTS", "9001,9002")
    monkeypatch.setenv("B24_CLIENT_ID", "app.x")
    args = launcher.parse_args(["--oauth-port", "9100"])
    assert (args.portal_ports, args.oauth_port, args.client_id, args.uis_port) == ("9001,9002", 9100, "app.x", 8092)
    assert args.app_url == "http://localhost:8000"
    uis_app = launcher.create_uis_server_app("http://localhost:8000")
    assert uis_app is None or hasattr(uis_app, "wsgi_app")
