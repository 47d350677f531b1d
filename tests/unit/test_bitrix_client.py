"""PortalClient: call, batch, paging, retries, token refresh, limits and portal renames (HTTP faked)."""
from __future__ import annotations

import json
from urllib.parse import unquote

import pytest
import requests
import responses

from bx_app.bitrix import errors as e
from bx_app.bitrix.client import PortalClient, batch_chunks, batch_command, php_query
from bx_app.bitrix.limiter import LocalRateLimiter
from tests.conftest import reference_fixture

ENDPOINT = "https://example.bitrix24.ru/rest/"


class Tokens:
    def __init__(self, token="old", fresh="new"):
        self.token, self.fresh, self.refreshes = token, fresh, []

    def access_token(self):
        return self.token

    def refresh(self, stale):
        self.refreshes.append(stale)
        self.token = self.fresh
        return self.token


@pytest.fixture
def sleeps():
    return []


@pytest.fixture
def client(sleeps):
    return PortalClient(ENDPOINT, Tokens(), limiter=LocalRateLimiter(1000, 1000), sleep=sleeps.append,
                        max_retries=3)


def body_of(call):
    return json.loads(call.request.body)


# --- call --------------------------------------------------------------------------------------
@responses.activate
def test_call_posts_json_with_auth_and_reads_result(client):
    page = reference_fixture("bitrix24/crm_lead_get_list.json")["list_first_page"]["response"]["body"]
    responses.post(ENDPOINT + "crm.lead.list", json=page)
    result = client.call("crm.lead.list", {"filter": {"STATUS_ID": "NEW"}, "select": ["ID"]})
    assert result.total == 87 and result.next == 50 and len(result.result) == 2
    assert result.time["operating_reset_at"] == 1772440211
    sent = body_of(responses.calls[0])
    assert sent == {"filter": {"STATUS_ID": "NEW"}, "select": ["ID"], "auth": "old"}
    assert client.stats.requests == 1


@responses.activate
def test_classic_crm_error_raises_crm_error_with_text(client):
    responses.post(ENDPOINT + "crm.lead.get", status=400, json={"error": "", "error_description": "Not found"})
    with pytest.raises(e.CrmNotFound) as info:
        client.call("crm.lead.get", {"id": 999999})
    assert info.value.description == "Not found" and info.value.method == "crm.lead.get"
    assert len(responses.calls) == 1  # 4xx is not retried


@responses.activate
def test_error_with_http_200_is_raised(client):
    responses.post(ENDPOINT + "placement.bind", json={"error": "ERROR_PLACEMENT_HANDLER", "error_description": "x"})
    with pytest.raises(e.BitrixError) as info:
        client.call("placement.bind", {})
    assert info.value.code == "ERROR_PLACEMENT_HANDLER"


# --- retries ------------------------------------------------------------------------------------
@responses.activate
def test_query_limit_exceeded_is_retried_with_jittered_backoff(client, sleeps):
    limit = reference_fixture("bitrix24/error_query_limit_exceeded.json")["response"]
    responses.post(ENDPOINT + "app.info", status=503, json=limit["body"])
    responses.post(ENDPOINT + "app.info", status=503, json=limit["body"])
    responses.post(ENDPOINT + "app.info", json={"result": {"ID": 27}})
    assert client.call("app.info").result == {"ID": 27}
    assert len(responses.calls) == 3
    assert len(sleeps) == 2 and 0 <= sleeps[0] <= 1.0 and 0 <= sleeps[1] <= 2.0
    assert client.stats.limit_errors == 2 and client.stats.retries == 2


@responses.activate
def test_server_errors_are_retried_then_raised(client, sleeps):
    for _ in range(4):
        responses.post(ENDPOINT + "app.info", status=500, body="<html>oops</html>")
    with pytest.raises(e.ServerError):
        client.call("app.info")
    assert len(responses.calls) == 4  # first try + max_retries
    assert len(sleeps) == 3
    assert all(0 <= s <= cap for s, cap in zip(sleeps, (1, 2, 4), strict=True))


@responses.activate
def test_network_errors_are_retried(client, sleeps):
    responses.post(ENDPOINT + "app.info", body=requests.ConnectionError("refused"))
    responses.post(ENDPOINT + "app.info", json={"result": True})
    assert client.call("app.info").result is True
    assert client.stats.network_errors == 1 and len(sleeps) == 1


@responses.activate
def test_access_denied_is_not_retried(client, sleeps):
    responses.post(ENDPOINT + "app.info", status=403,
                   json={"error": "ACCESS_DENIED", "error_description": "REST is available only on commercial plans."})
    with pytest.raises(e.AccessDenied):
        client.call("app.info")
    assert len(responses.calls) == 1 and sleeps == []


# --- token refresh -----------------------------------------------------------------------------
@responses.activate
def test_expired_token_refreshes_once_and_repeats(client):
    expired = reference_fixture("bitrix24/oauth_error_expired.json")["response"]
    responses.post(ENDPOINT + "crm.lead.add", status=401, json=expired["body"])
    responses.post(ENDPOINT + "crm.lead.add", json={"result": 1045})
    assert client.call("crm.lead.add", {"fields": {"TITLE": "x"}}).result == 1045
    assert client.token_source.refreshes == ["old"]
    assert [body_of(c)["auth"] for c in responses.calls] == ["old", "new"]


@responses.activate
def test_expired_token_twice_is_raised_not_looped(client):
    expired = reference_fixture("bitrix24/oauth_error_expired.json")["response"]
    responses.post(ENDPOINT + "app.info", status=401, json=expired["body"])
    with pytest.raises(e.ExpiredToken):
        client.call("app.info")
    assert len(client.token_source.refreshes) == 1 and len(responses.calls) == 2


@responses.activate
def test_invalid_token_retries_once_only_with_a_newer_stored_token(client):
    invalid = {"error": "invalid_token", "error_description": "Unable to get application by token"}
    responses.post(ENDPOINT + "app.info", status=401, json=invalid)
    responses.post(ENDPOINT + "app.info", json={"result": 1})
    client.token_source.token = "old"
    original = client.token_source.access_token
    answers = iter(["old", "newer", "newer"])
    client.token_source.access_token = lambda: next(answers)
    assert client.call("app.info").result == 1
    assert [body_of(c)["auth"] for c in responses.calls] == ["old", "newer"]
    client.token_source.access_token = original
    responses.post(ENDPOINT + "app.info", status=401, json=invalid)
    with pytest.raises(e.InvalidToken):  # same token stored: raise, no refresh
        client.call("app.info")
    assert client.token_source.refreshes == []
    assert [c.response.status_code for c in responses.calls] == [401, 200, 401]


# --- operating time limit ---------------------------------------------------------------------
def _operation_limit():
    return reference_fixture("bitrix24/error_operation_time_limit.json")


@responses.activate
def test_operation_time_limit_waits_until_reset(client, sleeps, monkeypatch):
    fixture = _operation_limit()
    now = fixture["last_success_before_block"]["body_time"]["operating_reset_at"] - 25
    monkeypatch.setattr(e.time, "time", lambda: now)
    responses.post(ENDPOINT + "crm.lead.list",
                   json={"result": [], "total": 0, "time": fixture["last_success_before_block"]["body_time"]})
    responses.post(ENDPOINT + "crm.lead.list", status=429, json=fixture["blocked"]["body"])
    responses.post(ENDPOINT + "crm.lead.list", json={"result": [], "total": 0})
    client.call("crm.lead.list")
    client.call("crm.lead.list")
    assert sleeps == [25]
    assert client.stats.limit_errors == 1


@responses.activate
def test_operation_time_limit_without_reset_waits_at_least_ten_seconds(client, sleeps):
    responses.post(ENDPOINT + "crm.lead.list", status=429, json=_operation_limit()["blocked"]["body"])
    responses.post(ENDPOINT + "crm.lead.list", json={"result": []})
    client.call("crm.lead.list")
    assert sleeps == [10.0]


@responses.activate
def test_operation_time_limit_longer_than_max_wait_is_raised(sleeps, monkeypatch):
    fixture = _operation_limit()
    reset_at = fixture["last_success_before_block"]["body_time"]["operating_reset_at"]
    monkeypatch.setattr(e.time, "time", lambda: reset_at - 190)
    client = PortalClient(ENDPOINT, Tokens(), limiter=LocalRateLimiter(1000, 1000), sleep=sleeps.append,
                          max_operation_wait=60)
    responses.post(ENDPOINT + "crm.lead.list",
                   json={"result": [], "time": fixture["last_success_before_block"]["body_time"]})
    responses.post(ENDPOINT + "crm.lead.list", status=429, json=fixture["blocked"]["body"])
    client.call("crm.lead.list")
    with pytest.raises(e.OperationTimeLimit) as info:
        client.call("crm.lead.list")
    assert info.value.reset_at == reset_at and info.value.retry_after == 190
    assert sleeps == []


# --- rename -----------------------------------------------------------------------------------
@responses.activate
def test_portal_rename_302_is_followed_and_remembered(sleeps):
    moved = []
    client = PortalClient(ENDPOINT, Tokens(), limiter=LocalRateLimiter(1000, 1000), sleep=sleeps.append,
                          on_endpoint_change=moved.append)
    responses.post(ENDPOINT + "crm.lead.add", status=302,
                   headers={"Location": "https://renamed.bitrix24.ru/rest/crm.lead.add"})
    responses.post("https://renamed.bitrix24.ru/rest/crm.lead.add", json={"result": 7})
    assert client.call("crm.lead.add", {"fields": {"TITLE": "x"}}).result == 7
    assert client.client_endpoint == "https://renamed.bitrix24.ru/rest/" and client.endpoint_changed
    assert moved == ["https://renamed.bitrix24.ru/rest/"]
    assert responses.calls[1].request.method == "POST" and body_of(responses.calls[1])["fields"] == {"TITLE": "x"}


@responses.activate
def test_redirect_to_plain_http_is_refused(client):
    responses.post(ENDPOINT + "app.info", status=302, headers={"Location": "http://evil.example/rest/app.info"})
    with pytest.raises(e.BitrixError):
        client.call("app.info")


# --- batch ------------------------------------------------------------------------------------
def test_php_query_matches_the_reference_commands():
    fixture = reference_fixture("bitrix24/batch_request_and_response.json")
    cmd = fixture["request"]["body"]["cmd"]
    assert batch_command(("crm.duplicate.findbycomm", {"type": "PHONE", "values": ["+79161234567"],
                                                       "entity_type": "LEAD"})) == cmd["dup"]
    assert batch_command(("crm.lead.get", {"id": "$result[dup][LEAD][0]"})) == cmd["lead"]
    built = batch_command(("crm.timeline.comment.add", {"fields": {
        "ENTITY_ID": "$result[dup][LEAD][0]", "ENTITY_TYPE": "lead", "COMMENT": "Повторный звонок"}}))
    assert built == cmd["comment"]
    assert php_query({"a": True, "b": None, "c": {"x": [1, 2]}, "d": "a&b=c"}) == "a=1&c[x][0]=1&c[x][1]=2&d=a%26b%3Dc"
    assert unquote(php_query({"t": "Lead $result[x] ok"})) == "t=Lead $result[x] ok"


@responses.activate
def test_batch_with_references_reads_every_member(client):
    fixture = reference_fixture("bitrix24/batch_request_and_response.json")
    responses.post(ENDPOINT + "batch", json=fixture["response"]["body"])
    commands = {
        "dup": ("crm.duplicate.findbycomm", {"type": "PHONE", "values": ["+79161234567"], "entity_type": "LEAD"}),
        "by_origin": ("crm.lead.list", {"filter": {"ORIGINATOR_ID": "uis", "ORIGIN_ID": "3100012345"},
                                        "select": ["ID"]}),
        "lead": ("crm.lead.get", {"id": "$result[dup][LEAD][0]"}),
        "comment": fixture["request"]["body"]["cmd"]["comment"],  # a raw query string goes as is
    }
    result = client.batch(commands)
    sent = body_of(responses.calls[0])
    assert sent["cmd"] == fixture["request"]["body"]["cmd"] and sent["halt"] == 0 and sent["auth"] == "old"
    assert list(sent["cmd"]) == ["dup", "by_origin", "lead", "comment"]  # order kept
    assert result.ok and result.errors == {}
    assert result.results["dup"] == {"LEAD": [1045]} and result.results["comment"] == 8841
    assert result.raise_for("lead")["ID"] == "1045"
    assert result.totals == {"by_origin": 0} and result.next == {}
    assert result.time["operating_reset_at"] == 1772436420


@responses.activate
def test_batch_partial_error_is_typed(client):
    variant = reference_fixture("bitrix24/batch_request_and_response.json")["variant_halt0_with_error"]
    responses.post(ENDPOINT + "batch", json=variant["response_body"])
    result = client.batch(variant["request_cmd"])
    assert result.results["ok"]["ID"] == "1045"
    assert isinstance(result.errors["missing"], e.CrmNotFound)
    assert result.errors["missing"].method == "crm.lead.get"
    with pytest.raises(e.CrmNotFound):
        result.raise_for("missing")
    assert not result.ok


@responses.activate
def test_batch_halt_leaves_later_commands_absent(client):
    variant = reference_fixture("bitrix24/batch_request_and_response.json")["variant_halt1"]
    responses.post(ENDPOINT + "batch", json=variant["response_body"])
    result = client.batch(variant["request_cmd"], halt=True)
    assert body_of(responses.calls[0])["halt"] == 1
    assert result.results == {} and set(result.errors) == {"missing"}
    with pytest.raises(KeyError):
        result.raise_for("ok")


@pytest.mark.parametrize("key", ["0", "12", 3, "-1", "a b", "x[y]", ""])
def test_batch_rejects_numeric_or_unsafe_keys(client, key):
    with pytest.raises(ValueError):
        client.batch({key: ("app.info", {})})


def test_batch_over_fifty_commands_is_refused(client):
    commands = {f"c{i}": ("crm.lead.get", {"id": i}) for i in range(51)}
    with pytest.raises(e.BatchLengthExceeded):
        client.batch(commands)


@responses.activate
def test_batch_list_shaped_result_is_mapped_by_order(client):
    # What the portal answers for keys "0","1" (we never send those, but must not crash on the shape).
    responses.post(ENDPOINT + "batch", json={"result": {"result": [{"ID": "1"}, {"ID": 27}], "result_error": [],
                                                        "result_total": [], "result_next": [], "result_time": []}})
    result = client.batch({"a": "crm.lead.get?id=1", "b": "app.info"})
    assert result.results == {"a": {"ID": "1"}, "b": {"ID": 27}}


def test_batch_chunks_keep_references_together():
    commands = {}
    for i in range(60):
        commands[f"find{i}"] = ("crm.lead.list", {"filter": {"ORIGIN_ID": i}})
        commands[f"upd{i}"] = ("crm.lead.update", {"id": f"$result[find{i}][0][ID]", "fields": {"X": i}})
    chunks = batch_chunks(commands)
    assert [len(c) for c in chunks] == [50, 50, 20]
    assert [k for c in chunks for k in c] == list(commands)
    # an odd boundary would cut a pair: shift by one command and the cutter backs off
    shifted = {"first": ("app.info", {}), **commands}
    chunks = batch_chunks(shifted)
    assert all(len(c) <= 50 for c in chunks)
    for chunk in chunks:
        for query in chunk.values():
            if "$result[" in query:
                ref = query.split("$result[", 1)[1].split("]", 1)[0]
                assert ref in chunk


def test_batch_chunks_refuse_a_chain_longer_than_fifty():
    commands = {"c0": ("app.info", {})}
    for i in range(1, 60):
        commands[f"c{i}"] = ("crm.lead.get", {"id": "$result[c0][ID]"})
    with pytest.raises(ValueError):
        batch_chunks(commands)
    with pytest.raises(ValueError):  # a reference forward in time is a mistake
        batch_chunks({"a": ("crm.lead.get", {"id": "$result[b]"}), "b": ("app.info", {})})


@responses.activate
def test_batch_all_sends_several_calls(client):
    def reply(request):
        cmd = json.loads(request.body)["cmd"]
        return 200, {}, json.dumps({"result": {"result": {k: k for k in cmd}, "result_error": [],
                                               "result_total": [], "result_next": [], "result_time": []}})
    responses.add_callback(responses.POST, ENDPOINT + "batch", callback=reply)
    commands = {f"k{i}": ("crm.lead.get", {"id": i}) for i in range(120)}
    result = client.batch_all(commands)
    assert len(responses.calls) == 3 and len(result.results) == 120 and result.results["k119"] == "k119"


# --- paging -----------------------------------------------------------------------------------
@responses.activate
def test_list_all_follows_next(client):
    def reply(request):
        start = json.loads(request.body)["start"]
        items = [{"ID": str(i)} for i in range(start, min(start + 50, 120))]
        page = {"result": items, "total": 120}
        if start + 50 < 120:
            page["next"] = start + 50
        return 200, {}, json.dumps(page)
    responses.add_callback(responses.POST, ENDPOINT + "crm.lead.list", callback=reply)
    items = client.list_all("crm.lead.list", {"select": ["ID"]})
    assert [int(i["ID"]) for i in items] == list(range(120))
    assert [body_of(c)["start"] for c in responses.calls] == [0, 50, 100]


@responses.activate
def test_list_all_fast_pages_by_id(client):
    def reply(request):
        sent = json.loads(request.body)
        after = int(sent["filter"].get(">ID", 0))
        assert sent["start"] == -1 and sent["order"] == {"ID": "ASC"} and sent["filter"]["STATUS_ID"] == "NEW"
        items = [{"ID": str(i)} for i in range(after + 1, min(after + 51, 121))]
        return 200, {}, json.dumps({"result": items})
    responses.add_callback(responses.POST, ENDPOINT + "crm.lead.list", callback=reply)
    items = client.list_all("crm.lead.list", {"filter": {"STATUS_ID": "NEW"}}, fast=True)
    assert [int(i["ID"]) for i in items] == list(range(1, 121))
    assert len(responses.calls) == 3


@responses.activate
def test_list_all_reads_wrapped_lists(client):
    fixture = reference_fixture("bitrix24/crm_category_list.json")
    body = next(v for v in _walk(fixture) if isinstance(v, dict) and "categories" in v.get("result", {}))
    responses.post(ENDPOINT + "crm.category.list", json=body)
    items = client.list_all("crm.category.list", {"entityTypeId": 2})
    assert items == body["result"]["categories"]


def _walk(value):
    yield value
    if isinstance(value, dict):
        for v in value.values():
            yield from _walk(v)
    elif isinstance(value, list):
        for v in value:
            yield from _walk(v)


@responses.activate
def test_every_request_goes_through_the_limiter():
    calls = []

    class CountingLimiter:
        def acquire(self):
            calls.append("acquire")
            return 0.0

        def try_acquire(self):
            return 0.0

        def note_overflow(self):
            calls.append("overflow")

    client = PortalClient(ENDPOINT, Tokens(), limiter=CountingLimiter(), sleep=lambda s: None)
    responses.post(ENDPOINT + "app.info", status=503, json={"error": "QUERY_LIMIT_EXCEEDED"})
    responses.post(ENDPOINT + "app.info", json={"result": 1})
    client.call("app.info")
    assert calls == ["acquire", "overflow", "acquire"]
