"""Generated requests against every public route: never a 5xx, never a traceback, nothing kept from a refusal.

Hypothesis sends random methods, paths (real, foreign and malformed ids and tokens), content types,
bodies (JSON with duplicate keys and deep nesting, forms, bytes that are not UTF-8, NUL bytes, bodies
above the size limits) and session tokens to the hook, install, iframe, events, settings, journal and
UIS-side routes, through the Flask test client. The default suite sends FUZZ_REQUESTS (3000); set
FUZZ_LONG=1 for the long variant (10000, or FUZZ_LONG_REQUESTS).

PostgreSQL refuses NUL characters in text and JSON, which SQLite accepts: a statement listener fails
the run if any NUL is about to be written, so the SQLite suite catches what production would 500 on.
"""
from __future__ import annotations

import json
import os
import string
from collections import Counter

import pytest
import responses
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import event, func, select

from bx_app.extensions import db
from bx_app.models import Credential, Event, InstallClaim, Portal, UisAccount
from bx_app.models.event import PollCursor
from bx_app.models.settings import ChannelSettings
from tests.conftest import TEST_CONFIG, reference_fixture
from tests.unit.factories import portal_token, two_accounts
from tests.unit.portal_fakes import OAUTH_HOSTS, app_info_body

DEFAULT_REQUESTS = int(os.environ.get("FUZZ_REQUESTS", "3000"))
LONG_REQUESTS = int(os.environ.get("FUZZ_LONG_REQUESTS", "10000"))
STORED = (Portal, Credential, UisAccount, InstallClaim, PollCursor, ChannelSettings)

TEXT = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=40)
NASTY = st.sampled_from(["", "\x00", "a\x00b", "%00", "../../etc/passwd", "'; drop table portal; --", "é" * 300,
                         "9" * 40, "-1", "0", "1e309", "NaN", "null", "[]", "{}", "<script>x</script>",
                         "\ud7ff\ue000", "\u202e", " " * 5, "x" * 5000])
VALUE = st.one_of(TEXT, NASTY)
JSON_SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70), st.floats(allow_nan=False), VALUE)
JSON_VALUES = st.recursive(JSON_SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(VALUE, inner, max_size=4)), max_leaves=12)
CONTENT_TYPES = st.sampled_from([
    None, "application/json", "application/json; charset=utf-8", "application/json; charset=latin-1",
    "application/x-www-form-urlencoded", "multipart/form-data; boundary=xYzZY", "multipart/form-data",
    "text/plain", "application/octet-stream", "text/html", "application/xml", "garbage", "*/*",
    "application/x-www-form-urlencoded; charset=koi8-r",
])
METHODS = st.sampled_from(["GET", "POST", "POST", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"])


def _deep_json(depth: int, opener: str) -> bytes:
    closer = {"[": "]", "{\"a\":": "}"}[opener]
    return (opener * depth + "1" + closer * depth).encode()


def _duplicate_keys(pairs: list[tuple[str, str]]) -> bytes:
    return ("{" + ",".join(f"{json.dumps(k)}:{json.dumps(v)}" for k, v in pairs) + "}").encode()


def _form(pairs: list[tuple[str, str]]) -> bytes:
    from urllib.parse import quote

    return "&".join(f"{quote(k)}={quote(v)}" for k, v in pairs).encode()


@st.composite
def bodies(draw, notification: dict) -> bytes:
    kind = draw(st.sampled_from(["empty", "json", "notification", "dup", "deep", "form", "bytes", "nul", "big",
                                 "latin1"]))
    if kind == "empty":
        return b""
    if kind == "json":
        return json.dumps(draw(JSON_VALUES)).encode()
    if kind == "notification":
        body = dict(notification)
        for key in draw(st.lists(st.sampled_from(sorted(body) + ["extra"]), max_size=3)):
            body[key] = draw(JSON_VALUES)
        return json.dumps(body, ensure_ascii=draw(st.booleans())).encode()
    if kind == "dup":
        return _duplicate_keys(draw(st.lists(st.tuples(st.sampled_from(sorted(notification)), VALUE), min_size=2,
                                             max_size=6)))
    if kind == "deep":
        return _deep_json(draw(st.sampled_from([50, 500, 1000, 5000, 100_000])), draw(st.sampled_from(["[", "{\"a\":"])))
    if kind == "form":
        keys = st.one_of(VALUE, st.sampled_from(["member_id", "AUTH_ID", "DOMAIN", "_s", "auth[member_id]",
                                                  "event", "auth[application_token]", "token", "name", "portal",
                                                  "data[CLEAN]", "csrf_token", "active", "a[b][c]"]))
        return _form(draw(st.lists(st.tuples(keys, VALUE), max_size=8)))
    if kind == "bytes":
        return draw(st.binary(max_size=300))
    if kind == "nul":
        return b'{"offline_message_id": "1\\u0000", "visitor_message": "\x00"}' if draw(st.booleans()) else b"\x00" * 10
    if kind == "big":
        return b"a=" + b"x" * draw(st.sampled_from([1024 * 1024 + 1, 2 * 1024 * 1024 + 1]))
    return "visitor_name=Сергей".encode("cp1251")


class Fuzzer:
    """One app with two tenants; sends one generated request and checks what came back and what was kept."""

    def __init__(self, app):
        self.app = app
        world = two_accounts()
        self.mine, self.other = world["mine"], world["other"]
        self.account = world["account"]
        self.ids = [self.mine.id, self.other.id, 0, 999999, 2**63, -1]
        self.hook_tokens = [self.mine.hook_token, self.other.hook_token]
        self.session_tokens = [portal_token(app, self.mine), portal_token(app, self.mine, admin=False),
                               portal_token(app, self.other), "garbage", "a" * 5000, "\x00"]
        self.anonymous = app.test_client()
        self.signed_in = app.test_client()
        with self.signed_in.session_transaction() as session:
            session["uis_account_id"] = self.account.id
        self.notification = reference_fixture("uis/notification_offline_message.json")
        self.statuses: Counter = Counter()
        self.nul_writes: list = []
        event.listen(db.engine, "before_cursor_execute", self._no_nul)

    def _no_nul(self, conn, cursor, statement, parameters, context, executemany):
        rows = parameters if executemany else [parameters]
        for row in rows:
            values = row.values() if isinstance(row, dict) else (row or ())
            for value in values:
                if isinstance(value, str) and "\x00" in value:
                    self.nul_writes.append((statement[:80], value[:80]))

    def paths(self, draw) -> str:
        cid, other_id = draw(st.sampled_from(self.ids)), draw(st.sampled_from(self.ids))
        token = draw(st.one_of(st.sampled_from(self.hook_tokens), st.text(
            alphabet=string.ascii_letters + string.digits + "-_%.~!$&'()*+,;=:@\x00é", min_size=1, max_size=80)))
        from urllib.parse import quote

        return draw(st.sampled_from([
            f"/hooks/uis/{quote(token, safe='')}", f"/hooks/uis/{token}", "/install", "/b24/events", "/app",
            "/app/session", "/app/reconnect", "/uis/", "/uis/login", "/uis/logout", "/uis/credentials",
            f"/uis/credentials/{cid}", f"/uis/credentials/{cid}/reconnect", "/uis/connect",
            f"/uis/claim/{quote(token, safe='')}", f"/uis/lang/{quote(token[:5], safe='')}", "/settings", "/journal",
            f"/settings/{cid}", f"/settings/{cid}/main", f"/settings/{cid}/sync", f"/settings/{cid}/sync/{quote(token)}",
            f"/settings/{cid}/employees", f"/settings/{cid}/channels", f"/settings/{cid}/channels/chats",
            f"/settings/{cid}/channels/{quote(token)}", f"/journal/{cid}", f"/journal/{cid}/events/{other_id}",
            f"/journal/{cid}/events/{other_id}/retry", f"/journal/{cid}/retry-failed",
            f"/journal/{cid}/tasks/{quote(token)}", "/b24/oauth/callback", "/healthz",
        ]))

    def counts(self) -> dict:
        with db.engine.connect() as conn:
            stored = {model.__name__: conn.execute(select(func.count()).select_from(model)).scalar()
                      for model in STORED}
            stored["Event"] = conn.execute(select(func.count()).select_from(Event).where(
                ~Event.reason.like("rejected:%") | Event.reason.is_(None))).scalar()
        return stored

    def send(self, draw) -> None:
        method = draw(METHODS)
        path = self.paths(draw)
        query = draw(st.lists(st.tuples(st.sampled_from(["_s", "DOMAIN", "PROTOCOL", "LANG", "code", "state", "page",
                                                           "status", "next", "lang", "x"]), VALUE), max_size=4))
        if draw(st.booleans()):
            query.append(("_s", draw(st.sampled_from(self.session_tokens))))
        headers = {}
        content_type = draw(CONTENT_TYPES)
        if content_type:
            headers["Content-Type"] = content_type
        if draw(st.integers(0, 4)) == 0:
            headers["X-App-Session"] = draw(st.sampled_from(self.session_tokens)).replace("\x00", "")
        if draw(st.integers(0, 5)) == 0:
            headers["Accept"] = "application/json"
        body = draw(bodies(self.notification)) if method not in ("GET", "HEAD") or draw(st.booleans()) else b""
        if len(body) > 1024 * 1024 and draw(st.booleans()):
            headers["Content-Type"] = "application/x-www-form-urlencoded"  # the form parser meets the limit
        client = self.signed_in if draw(st.booleans()) else self.anonymous
        before = self.counts()
        response = client.open(path, method=method, query_string=query, data=body, headers=headers)
        text = response.get_data(as_text=True)
        self.statuses[response.status_code] += 1
        assert response.status_code < 500, (method, path, content_type, body[:200], text[:500])
        assert "Traceback" not in text and 'File "' not in text, (method, path, text[:500])
        if response.status_code >= 400:
            assert self.counts() == before, ("a refused request stored something", method, path, response.status_code)
        assert not self.nul_writes, ("a NUL would reach the database (PostgreSQL refuses it)", method, path,
                                     self.nul_writes)


@pytest.fixture
def fuzzer(app):
    app.config.update(TESTING=False, PROPAGATE_EXCEPTIONS=False)  # production error handling
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        for host in OAUTH_HOSTS:
            rsps.get(f"{host}/rest/app.info", json=app_info_body())
        rsps.post(TEST_CONFIG["UIS_DATA_API_URL"], status=503)
        yield Fuzzer(app)


def _run(fuzzer: Fuzzer, examples: int) -> None:
    @settings(max_examples=examples, deadline=None, derandomize=False, database=None,
              suppress_health_check=list(HealthCheck))
    @given(st.data())
    def one_request(data):
        fuzzer.send(data.draw)

    one_request()
    sent = sum(fuzzer.statuses.values())
    print(f"fuzz: {sent} requests, statuses {dict(sorted(fuzzer.statuses.items()))}")
    assert sent >= examples * 0.9


def test_generated_requests_never_get_a_5xx_or_keep_anything_refused(fuzzer):
    _run(fuzzer, DEFAULT_REQUESTS)


@pytest.mark.skipif(not os.environ.get("FUZZ_LONG"), reason="the long variant: FUZZ_LONG=1")
@pytest.mark.timeout(3600)
def test_generated_requests_long_variant(fuzzer):
    _run(fuzzer, LONG_REQUESTS)


# --- the malformed requests that used to end in a 500, one by one --------------------------------------
BIG_FORM = b"a=" + b"x" * (3 * 1024 * 1024)


@pytest.mark.parametrize("path", ["/app", "/install", "/b24/events", "/app/session", "/uis/", "/uis/connect",
                                  "/settings/1/main", "/journal/1/retry-failed"])
def test_an_oversized_form_is_a_413_not_a_500(app, path):
    app.config.update(TESTING=False)
    response = app.test_client().post(path, data=BIG_FORM,
                                      headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert response.status_code == 413


@pytest.mark.parametrize("body", [b"[" * 100_000 + b"]" * 100_000, b'{"a":' * 100_000 + b"1" + b"}" * 100_000,
                                  b'{"offline_message_id": "5", "x": ' + b"[" * 900 + b"]" * 900 + b"}"])
def test_deeply_nested_json_to_the_hook_is_a_400(app, body):
    app.config.update(TESTING=False)
    mine = two_accounts()["mine"]
    response = app.test_client().post(f"/hooks/uis/{mine.hook_token}", data=body,
                                      headers={"Content-Type": "application/json"})
    assert response.status_code == 400 and "nested deeper" in response.get_json()["reason"]
    assert Event.query.filter(~Event.reason.like("rejected:%")).count() == 0


@pytest.mark.parametrize(("path", "kwargs"), [
    ("/hooks/uis/ab%00cd", {"json": {"offline_message_id": "1"}}),
    ("/hooks/uis/{token}", {"data": b'{"offline_message_id": "1", "visitor_message": "x\\u0000y"}',
                            "headers": {"Content-Type": "application/json"}}),
    ("/hooks/uis/{token}", {"data": {"offline_message_id": "1", "visitor_name": "a\x00b"}}),
    ("/hooks/uis/{token}?offline_message_id=1&visitor_name=a%00b", {}),
    ("/hooks/uis/{token}", {"data": b"\x00" * 10, "headers": {"Content-Type": "text/plain"}}),
    ("/uis/connect", {"data": {"name": "a\x00", "portal": "x.bitrix24.ru"}}),
    ("/install?DOMAIN=a%00.bitrix24.ru", {"data": {"member_id": "x"}}),
    ("/b24/events", {"data": {"event": "ONAPPUNINSTALL", "auth[member_id]": "a\x00"}}),
])
def test_a_nul_character_never_reaches_the_database(app, path, kwargs):
    app.config.update(TESTING=False)
    mine = two_accounts()["mine"]
    written = []

    def watch(conn, cursor, statement, parameters, context, executemany):
        rows = parameters if executemany else [parameters]
        written.extend(v for row in rows for v in (row.values() if isinstance(row, dict) else row or ())
                       if isinstance(v, str) and "\x00" in v)

    event.listen(db.engine, "before_cursor_execute", watch)
    try:
        client = app.test_client()
        with client.session_transaction() as session:
            session["uis_account_id"] = mine.uis_account_id
        response = client.post(path.format(token=mine.hook_token), **kwargs)
    finally:
        event.remove(db.engine, "before_cursor_execute", watch)
    assert 400 <= response.status_code < 500 and written == []


@pytest.mark.parametrize("path", ["/settings/9223372036854775808", "/journal/2147483648",
                                  "/uis/credentials/99999999999999999999", "/journal/1/events/9223372036854775808"])
def test_an_id_beyond_the_database_integer_is_a_404(app, path):
    app.config.update(TESTING=False)
    mine = two_accounts()["mine"]
    client = app.test_client()
    with client.session_transaction() as session:
        session["uis_account_id"] = mine.uis_account_id
    assert client.get(path).status_code == 404


@pytest.mark.parametrize("body", [b"[[1, 2]]", b"[" * 5000 + b"]" * 5000, b'{"token": "x"}'])
def test_json_where_a_form_is_taken_is_a_415(app, body):
    app.config.update(TESTING=False)
    response = app.test_client().post("/uis/", data=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 415
