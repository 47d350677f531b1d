"""Fake Bitrix24 HTTP (authorization server + one portal) for unit tests, built from reference payloads."""
from __future__ import annotations

import json
from urllib.parse import parse_qs, urlsplit

import responses

from tests.conftest import TEST_CONFIG, reference_fixture

MEMBER_ID = "e31ab643c44f7a0ec824b59d1194d60d"
DOMAIN = "example.bitrix24.ru"
APP_TOKEN = "154c104a6e8cb00653cd9f21e51da3a8"
OAUTH = "https://oauth.bitrix.info"
OAUTH_HOSTS = (OAUTH, "https://oauth.bitrix24.tech")
PORTAL_REST = f"https://{DOMAIN}/rest/"


def app_info_body(client_id: str | None = None, member_id: str = MEMBER_ID, domain: str = DOMAIN) -> dict:
    body = reference_fixture("bitrix24/app_info_response.json")["oauth_server_app_info"]["response"]["body"]
    body = json.loads(json.dumps(body))
    body["result"]["client_id"] = client_id or TEST_CONFIG["B24_CLIENT_ID"]
    body["result"]["install"]["member_id"] = member_id
    body["result"]["install"]["domain"] = domain
    body["result"]["install"]["client_endpoint"] = f"https://{domain}/rest/"
    return body


class FakeBitrix:
    """Registers the authorization server's app.info and the portal's REST methods on a RequestsMock."""

    def __init__(self, rsps: responses.RequestsMock, *, valid_tokens=None, admin_tokens=None, app_info=None):
        self.rsps = rsps
        self.valid_tokens = set(valid_tokens or [])
        self.admin_tokens = set(admin_tokens or self.valid_tokens)
        self.app_info = app_info or app_info_body()
        self.bound: list[dict] = []
        self.calls: list[tuple[str, dict]] = []
        self.time_zone = "Europe/Moscow"  # profile TIME_ZONE (the reference's); "" = the user keeps the portal's
        for host in OAUTH_HOSTS:
            rsps.add_callback(responses.GET, f"{host}/rest/app.info", callback=self._app_info)
        rsps.add_callback(responses.POST, f"{PORTAL_REST}event.get", callback=self._event_get)
        rsps.add_callback(responses.POST, f"{PORTAL_REST}event.bind", callback=self._event_bind)
        rsps.add_callback(responses.POST, f"{PORTAL_REST}batch", callback=self._batch)

    def _auth(self, request) -> str:
        if request.method == "GET":
            return parse_qs(urlsplit(request.url).query).get("auth", [""])[0]
        body = json.loads(request.body or b"{}")
        return body.get("auth", "")

    def _app_info(self, request):
        if self._auth(request) not in self.valid_tokens:
            return 401, {}, json.dumps({"error": "invalid_token", "error_description": "Unable to get application by token"})
        return 200, {}, json.dumps(self.app_info)

    def _event_get(self, request):
        self.calls.append(("event.get", {}))
        return 200, {}, json.dumps({"result": self.bound})

    def _event_bind(self, request):
        body = json.loads(request.body)
        self.calls.append(("event.bind", body))
        self.bound.append({"event": body["event"], "handler": body["handler"], "auth_type": "0", "offline": 0})
        return 200, {}, json.dumps({"result": True})

    def _batch(self, request):
        body = json.loads(request.body)
        token = body.get("auth")
        results = {}
        for key, command in body["cmd"].items():
            method = command.split("?", 1)[0]
            if method == "profile":
                results[key] = {"ID": "1" if token in self.admin_tokens else "7", "NAME": "Андрей",
                                "LAST_NAME": "Петров", "ADMIN": token in self.admin_tokens,
                                "TIME_ZONE": self.time_zone}
            elif method == "user.admin":
                results[key] = token in self.admin_tokens
        return 200, {}, json.dumps({"result": {"result": results, "result_error": [], "result_total": [],
                                               "result_next": [], "result_time": []}})


def iframe_post(auth_id="85eb55480071c3e20058f18a00000001000006bf7e33bd76e28862f4892d67907f224b", **overrides):
    request = reference_fixture("bitrix24/install_iframe_post.json")["request"]
    query = dict(request["query"])
    form = dict(request["form"], AUTH_ID=auth_id)
    for key, value in overrides.items():
        target = query if key in ("DOMAIN", "PROTOCOL", "LANG", "APP_SID") else form
        if value is None:
            target.pop(key, None)
        else:
            target[key] = value
    return query, form


def install_event(access_token="46a4a7450071c3e20058f18a000000010000001809ad319a19329187eb77fe9bae7b66", **overrides):
    form = dict(reference_fixture("bitrix24/onappinstall_event.json")["request"]["form_fields"])
    form["auth[access_token]"] = access_token
    form.update(overrides)
    return form


def uninstall_event(**overrides):
    form = dict(reference_fixture("bitrix24/onappuninstall_event.json")["request"]["form_fields"])
    form.update(overrides)
    return form
