"""DataApiClient against `responses` fakes built from the reference fixtures."""
from __future__ import annotations

import copy
import json
import pickle
from datetime import datetime, timedelta

import pytest
import requests
import responses

from bx_app.uis import errors
from bx_app.uis.client import (
    CHAT_MESSAGES_WINDOW,
    MAX_OFFSET,
    OFFLINE_MESSAGE_FIELDS,
    DataApiClient,
    ReportTooLarge,
    format_uis_time,
    parse_uis_time,
    split_date_window,
)
from tests.conftest import reference_fixture

URL = "https://dataapi.uiscom.ru/v2.0"

ERROR_FIXTURES = {
    "error_access_token_blocked.json": errors.AccessTokenBlocked,
    "error_access_token_expired.json": errors.AccessTokenExpired,
    "error_access_token_invalid.json": errors.AccessTokenInvalid,
    "error_auth_error.json": errors.WrongLogin,
    "error_date_interval_limit_reached.json": errors.DateIntervalLimitReached,
    "error_filter_prohibited.json": errors.FilterProhibited,
    "error_invalid_parameter_value.json": errors.InvalidParameterValue,
    "error_ip_not_whitelisted.json": errors.IpNotWhitelisted,
    "error_limit_exceeded.json": errors.LimitExceeded,
    "error_method_component_disabled.json": errors.ComponentDisabled,
    "error_method_not_found.json": errors.MethodNotFound,
    "error_required_parameter_missed.json": errors.RequiredParameterMissed,
}


def fixture(name: str) -> dict:
    return reference_fixture(f"uis/{name}")


def day_limit_error() -> dict:
    reply = fixture("error_limit_exceeded.json")
    reply["error"]["message"] = "Limit per day has been exceeded. Value of current limit per day is 10000"
    reply["error"]["data"]["params"] = {"limit_type": "day", "limit_max_value": 10000}
    reply["error"]["data"]["metadata"]["limits"].update(day_remaining=0, day_reset=39811)
    return reply


class Sleeps(list):
    def __call__(self, seconds):
        self.append(seconds)


@pytest.fixture
def sleeps():
    return Sleeps()


@pytest.fixture
def client(sleeps):
    return DataApiClient(URL, "key-1", sleep=sleeps, jitter=lambda: 0.5, max_retries=3)


def body_of(call) -> dict:
    return json.loads(call.request.body)


@responses.activate
def test_call_sends_json_rpc_with_id_and_token(client):
    responses.post(URL, json=fixture("get_account_response.json"))
    data, metadata = client.call("get.account", {})
    sent = body_of(responses.calls[0])
    assert sent["jsonrpc"] == "2.0" and sent["method"] == "get.account" and sent["id"]
    assert sent["params"] == {"access_token": "key-1"}
    assert responses.calls[0].request.headers["Content-Type"].startswith("application/json")
    assert data[0]["app_id"] == 1103425
    assert metadata["limits"]["minute_remaining"] == 117
    assert client.limits["day_limit"] == 10000


@responses.activate
def test_request_ids_differ(client):
    responses.post(URL, json=fixture("get_account_response.json"))
    client.call("get.account")
    client.call("get.account")
    assert body_of(responses.calls[0])["id"] != body_of(responses.calls[1])["id"]


@pytest.mark.parametrize("name, cls", sorted(ERROR_FIXTURES.items()))
def test_every_error_fixture_maps_to_its_type(name, cls):
    error = errors.error_from_envelope(fixture(name))
    assert type(error) is cls
    assert error.code == fixture(name)["error"]["code"]
    for lang in ("ru", "en"):
        text = error.user_message(lang)
        assert text and "{" not in text
    rebuilt = pickle.loads(pickle.dumps(error))
    assert type(rebuilt) is cls and rebuilt.mnemonic == error.mnemonic and rebuilt.data == error.data


@pytest.mark.parametrize("name, cls", sorted(ERROR_FIXTURES.items()))
@responses.activate
def test_client_raises_typed_error_without_retry(name, cls, sleeps):
    client = DataApiClient(URL, "key-1", sleep=sleeps, jitter=lambda: 0.0, max_retries=0)
    responses.post(URL, json=fixture(name))
    with pytest.raises(cls):
        client.call("get.chats_report", {"date_from": "2025-11-20 00:00:00", "date_till": "2025-11-20 23:59:59"})
    assert len(responses.calls) == 1


@pytest.mark.parametrize("name", ["error_access_token_invalid.json", "error_ip_not_whitelisted.json",
                                  "error_method_component_disabled.json", "error_required_parameter_missed.json"])
@responses.activate
def test_setup_and_parameter_errors_are_not_retried(name, client, sleeps):
    responses.post(URL, json=fixture(name))
    with pytest.raises(errors.UisError):
        client.call("get.account")
    assert len(responses.calls) == 1 and sleeps == []


def test_ip_not_whitelisted_explains_where_to_add_the_ip():
    error = errors.error_from_envelope(fixture("error_ip_not_whitelisted.json"))
    assert error.ip == "203.0.113.7"
    assert "Добавьте IP 203.0.113.7 в список разрешённых в UIS: Администратор → Аккаунт → " \
           "Правила и настройки безопасности → API" in error.user_message("ru")
    assert "Add IP 203.0.113.7" in error.user_message("en")
    assert error.needs_customer_action and not error.retryable


def test_ip_taken_from_message_when_params_missing():
    reply = fixture("error_ip_not_whitelisted.json")
    reply["error"]["data"].pop("params")
    assert errors.error_from_envelope(reply).ip == "203.0.113.7"


def test_unknown_mnemonic_falls_back_to_code_family():
    error = errors.error_from_envelope({"error": {"code": -32602, "message": "x",
                                                  "data": {"mnemonic": "tariff_restrictions"}}})
    assert type(error) is errors.InvalidParams and error.mnemonic == "tariff_restrictions"
    batch = errors.error_from_envelope({"error": {"code": -32099, "message": "x",
                                                  "data": {"mnemonic": "batch_opreations_not_supported"}}})
    assert isinstance(batch, errors.BatchNotSupported)
    assert type(errors.error_from_envelope({"error": {"code": -32099, "data": {
        "mnemonic": "notifications_not_supported"}}})) is errors.NotificationsNotSupported
    forbidden = errors.error_from_envelope({"error": {"code": -32003, "data": {"mnemonic": "forbidden"}}})
    assert type(forbidden) is errors.Forbidden
    assert type(errors.error_from_envelope({"error": {"code": -32009, "data": {
        "mnemonic": "account_inactive"}}})) is errors.AccountInactive
    assert type(errors.error_from_envelope({"error": {"code": -32600}})) is errors.InvalidRequest
    assert type(errors.error_from_envelope({"error": {"code": -32700}})) is errors.ParseError
    assert type(errors.error_from_envelope({"error": {"code": -32603}})) is errors.InternalError


def test_limit_exceeded_reads_type_and_reset():
    minute = errors.error_from_envelope(fixture("error_limit_exceeded.json"))
    assert not minute.per_day and minute.reset_seconds == 21 and minute.limit_max_value == 120
    day = errors.error_from_envelope(day_limit_error())
    assert day.per_day and day.reset_seconds == 39811
    assert "сутки" in day.user_message("ru")


@responses.activate
def test_minute_limit_exceeded_waits_reset_and_retries(client, sleeps):
    responses.post(URL, json=fixture("error_limit_exceeded.json"))
    responses.post(URL, json=fixture("get_account_response.json"))
    data, _ = client.call("get.account")
    assert data[0]["name"] == "ООО «Пример»"
    assert sleeps == [21.5]  # minute_reset + jitter
    assert len(responses.calls) == 2


@responses.activate
def test_day_limit_exceeded_raises_for_the_job_to_park(client, sleeps):
    responses.post(URL, json=day_limit_error())
    with pytest.raises(errors.LimitExceeded) as caught:
        client.call("get.account")
    assert caught.value.per_day and caught.value.reset_seconds == 39811
    assert sleeps == [] and len(responses.calls) == 1


@responses.activate
def test_throttles_when_minute_budget_is_spent(sleeps):
    now = [1000.0]
    client = DataApiClient(URL, "key-1", sleep=sleeps, jitter=lambda: 0.0, clock=lambda: now[0])
    spent = fixture("get_account_response.json")
    spent["result"]["metadata"]["limits"].update(minute_remaining=0, minute_reset=17)
    responses.post(URL, json=spent)
    responses.post(URL, json=fixture("get_account_response.json"))
    client.call("get.account")
    assert sleeps == []
    now[0] += 5  # five seconds pass between the calls
    client.call("get.account")
    assert sleeps == [12.0]
    client.call("get.account")
    assert sleeps == [12.0]  # budget left again: no wait


@pytest.mark.parametrize("failure", [
    {"status": 502, "body": "Bad gateway"},
    {"body": requests.exceptions.ReadTimeout("slow")},
    {"body": requests.exceptions.ConnectionError("refused")},
    {"json": {"jsonrpc": "2.0", "id": "x", "error": {"code": -32603, "message": "Internal error",
                                                     "data": {"mnemonic": "internal_error"}}}},
])
@responses.activate
def test_transient_failures_are_retried_with_backoff(failure, client, sleeps):
    responses.post(URL, **failure)
    responses.post(URL, **failure)
    responses.post(URL, json=fixture("get_account_response.json"))
    data, _ = client.call("get.account")
    assert data[0]["app_id"] == 1103425
    assert sleeps == [1.5, 2.5]  # 1 s, 2 s + jitter


@responses.activate
def test_transient_failures_give_up_after_max_retries(client, sleeps):
    responses.post(URL, status=503, body="down")
    with pytest.raises(errors.TransportError) as caught:
        client.call("get.account")
    assert caught.value.status == 503 and caught.value.retryable
    assert len(responses.calls) == 4 and len(sleeps) == 3


def page_reply(rows: list[dict], total: int) -> dict:
    reply = copy.deepcopy(fixture("get_offline_messages_report_response.json"))
    reply["result"]["data"] = rows
    reply["result"]["metadata"]["total_items"] = total
    return reply


def paging_callback(all_rows: list[dict]):
    def callback(request):
        params = json.loads(request.body)["params"]
        start, limit = params["offset"], params["limit"]
        rows = [r for r in all_rows if params["date_from"] <= r["date_time"] <= params["date_till"]]
        return 200, {}, json.dumps(page_reply(rows[start:start + limit], len(rows)))
    return callback


@responses.activate
def test_iter_report_pages_through_2500_rows(client):
    rows = [{"id": i, "date_time": "2025-11-20 10:00:00"} for i in range(2500)]
    responses.add_callback(responses.POST, URL, callback=paging_callback(rows))
    got = list(client.iter_report("get.offline_messages_report", {
        "date_from": "2025-11-20 00:00:00", "date_till": "2025-11-20 23:59:59"}, page_size=1000))
    assert [r["id"] for r in got] == list(range(2500))
    offsets = [body_of(c)["params"]["offset"] for c in responses.calls]
    assert offsets == [0, 1000, 2000]
    assert all(body_of(c)["params"]["limit"] == 1000 for c in responses.calls)


@responses.activate
def test_iter_report_exact_multiple_stops_on_empty_page(client):
    rows = [{"id": i, "date_time": "2025-11-20 10:00:00"} for i in range(2000)]
    responses.add_callback(responses.POST, URL, callback=paging_callback(rows))
    got = list(client.iter_report("get.offline_messages_report", {
        "date_from": "2025-11-20 00:00:00", "date_till": "2025-11-20 23:59:59"}))
    assert len(got) == 2000 and len(responses.calls) == 3


@responses.activate
def test_iter_report_splits_window_past_offset_cap(client):
    calls = []

    def callback(request):
        params = json.loads(request.body)["params"]
        calls.append((params["date_from"], params["date_till"], params["offset"]))
        whole_day = params["date_from"] == "2025-11-20 00:00:00" and params["date_till"] == "2025-11-20 23:59:59"
        total = MAX_OFFSET + 5000 if whole_day else 3
        rows = [] if params["offset"] else [{"id": len(calls), "date_time": params["date_from"]}] * min(total, 3)
        return 200, {}, json.dumps(page_reply(rows, total))

    responses.add_callback(responses.POST, URL, callback=callback)
    got = list(client.iter_report("get.offline_messages_report", {
        "date_from": "2025-11-20 00:00:00", "date_till": "2025-11-20 23:59:59"}, page_size=1000))
    assert len(got) == 6
    windows = [(f, t) for f, t, _ in calls[1:]]
    assert windows == [("2025-11-20 00:00:00", "2025-11-20 11:59:59"), ("2025-11-20 12:00:00", "2025-11-20 23:59:59")]


@responses.activate
def test_iter_report_without_window_refuses_too_large(client):
    responses.post(URL, json=page_reply([{"id": 1}], MAX_OFFSET * 2))
    with pytest.raises(ReportTooLarge):
        list(client.iter_report("get.employees", {}))


def test_split_date_window_is_inclusive_and_bounded():
    windows = split_date_window("2025-01-01 00:00:00", "2025-03-15 23:59:59", CHAT_MESSAGES_WINDOW)
    assert windows[0] == (datetime(2025, 1, 1), datetime(2025, 1, 30, 23, 59, 59))
    assert windows[1][0] == datetime(2025, 1, 31)
    assert windows[-1][1] == datetime(2025, 3, 15, 23, 59, 59)
    assert all(end - start < CHAT_MESSAGES_WINDOW for start, end in windows)
    for (_, end), (start, _) in zip(windows, windows[1:], strict=False):
        assert start - end == timedelta(seconds=1)
    with pytest.raises(ValueError):
        split_date_window("2025-02-01 00:00:00", "2025-01-01 00:00:00", CHAT_MESSAGES_WINDOW)


def test_time_format_round_trip_and_zone():
    assert format_uis_time(datetime(2025, 11, 20, 9, 14, 27)) == "2025-11-20 09:14:27"
    assert parse_uis_time("2025-11-20 09:14:27") == datetime(2025, 11, 20, 9, 14, 27)
    assert parse_uis_time(None) is None
    from datetime import UTC
    aware = datetime(2025, 11, 20, 6, 14, 27, tzinfo=UTC)
    assert format_uis_time(aware, "Europe/Moscow") == "2025-11-20 09:14:27"


@responses.activate
def test_get_offline_messages_asks_for_full_fields_and_splits_long_ranges(client):
    responses.add_callback(responses.POST, URL, callback=lambda r: (
        200, {}, json.dumps(fixture("get_offline_messages_report_response.json"))))
    rows = client.get_offline_messages(datetime(2025, 1, 1), datetime(2025, 6, 30, 23, 59, 59))
    sent = [body_of(c)["params"] for c in responses.calls]
    assert len(sent) == 3  # 181 days in windows of at most 89
    assert sent[0]["fields"] == OFFLINE_MESSAGE_FIELDS
    for field in ("visitor_name", "visitor_phone_number", "visitor_email", "site_domain_name", "campaign_name",
                  "utm_source", "utm_term", "form_name", "status", "process_time", "employee_full_name",
                  "tags", "communication_id"):
        assert field in sent[0]["fields"]
    assert sent[0]["date_from"] == "2025-01-01 00:00:00" and sent[-1]["date_till"] == "2025-06-30 23:59:59"
    assert len(rows) == 6


@responses.activate
def test_get_chat_messages_by_ids_sorted(client):
    responses.post(URL, json=fixture("get_chat_messages_report_response.json"))
    rows = client.get_chat_messages(chat_ids=[880011223])
    params = body_of(responses.calls[0])["params"]
    assert params["chat_ids"] == [880011223] and params["sort"] == [{"field": "date_time", "order": "asc"}]
    assert "date_from" not in params and len(rows) == 6
    with pytest.raises(ValueError):
        client.get_chat_messages()


@responses.activate
def test_get_chat_messages_by_dates_uses_30_day_windows(client):
    responses.post(URL, json=fixture("get_chat_messages_report_response.json"))
    client.get_chat_messages(date_from="2025-10-01 00:00:00", date_till="2025-11-20 23:59:59")
    assert len(responses.calls) == 2


@responses.activate
def test_reference_methods(client):
    responses.post(URL, json=fixture("get_account_response.json"))
    responses.post(URL, json=fixture("get_employees_response.json"))
    responses.post(URL, json=fixture("get_sites_response.json"))
    responses.post(URL, json=fixture("get_chat_channels_response.json"))
    responses.post(URL, json=fixture("get_visitors_response.json"))
    responses.post(URL, json=fixture("get_calls_report_response.json"))
    responses.post(URL, json=fixture("get_chats_report_response.json"))
    assert client.get_account()["timezone"] == "Europe/Moscow" and client.timezone == "Europe/Moscow"
    assert [e["id"] for e in client.get_employees()] == [45012, 45013, 45014]
    assert [s["id"] for s in client.get_sites()] == [7301, 7302]
    assert [c["id"] for c in client.get_chat_channels()] == [3101, 3102, 3103, 3104]
    assert [v["id"] for v in client.get_visitors([5123456701, 5123456703])] == [5123456701, 5123456703]
    assert body_of(responses.calls[4])["params"]["ids"] == [5123456701, 5123456703]
    assert len(client.get_calls("2025-11-20 00:00:00", "2025-11-20 23:59:59")) == 2
    assert len(client.get_chats("2025-11-20 00:00:00", "2025-11-20 23:59:59",
                                filter={"field": "status", "operator": "=", "value": "new"})) == 3
    assert body_of(responses.calls[6])["params"]["filter"]["field"] == "status"


@responses.activate
def test_session_login_and_relogin_on_expired(sleeps):
    client = DataApiClient(URL, None, sleep=sleeps, login="b24_integration", password="S3cret-Passw0rd")
    responses.post(URL, json=fixture("login_user_response.json"))
    responses.post(URL, json=fixture("error_access_token_expired.json"))
    responses.post(URL, json=fixture("login_user_response.json"))
    responses.post(URL, json=fixture("get_account_response.json"))
    client.get_account()
    methods = [body_of(c)["method"] for c in responses.calls]
    assert methods == ["login.user", "get.account", "login.user", "get.account"]
    assert "access_token" not in body_of(responses.calls[0])["params"]
    assert body_of(responses.calls[3])["params"]["access_token"].startswith("5f1c9a2e")
