"""The UIS sandbox through Flask's test client: Data API rules, control API, notifications, the page."""
from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

import pytest

from bx_app.sandbox.uis import create_uis_app
from bx_app.uis.notifications import default_template as app_template

TOKEN = "sandbox-uis-token"
DAY = {"date_from": "2025-11-20 00:00:00", "date_till": "2025-11-20 23:59:59"}


@pytest.fixture
def sandbox():
    return create_uis_app()


@pytest.fixture
def web(sandbox):
    return sandbox.test_client()


def rpc(web, method, params=None, token=TOKEN, request_id="t-1"):
    params = dict(params or {})
    if token is not None:
        params["access_token"] = token
    return web.post("/v2.0", json={"jsonrpc": "2.0", "id": request_id, "method": method, "params": params}).get_json()


def mnemonic(reply):
    return reply["error"]["data"]["mnemonic"]


def data(reply):
    assert "result" in reply, reply
    return reply["result"]["data"]


# --- envelope and auth ------------------------------------------------------------------------------
def test_account_and_limits_metadata(web):
    reply = rpc(web, "get.account")
    assert reply["id"] == "t-1"
    assert data(reply) == [{"app_id": 1103425, "name": "ООО «Пример»", "timezone": "Europe/Moscow"}]
    limits = reply["result"]["metadata"]["limits"]
    assert limits["minute_limit"] == 120 and limits["minute_remaining"] == 119 and limits["day_remaining"] == 9999


def test_envelope_errors(web):
    assert web.post("/v2.0", data=b"{oops").get_json()["error"]["code"] == -32700
    batch = web.post("/v2.0", json=[{"jsonrpc": "2.0", "id": 1, "method": "get.account"}]).get_json()
    assert batch["error"]["code"] == -32099 and mnemonic(batch) == "batch_operations_not_supported"
    no_id = web.post("/v2.0", json={"jsonrpc": "2.0", "method": "get.account",
                                    "params": {"access_token": TOKEN}}).get_json()
    assert no_id["error"]["code"] == -32099 and mnemonic(no_id) == "notifications_not_supported"
    assert web.post("/v2.0", json={"id": 1, "method": "get.account"}).get_json()["error"]["code"] == -32600
    unknown = rpc(web, "get.chat_report")
    assert unknown["error"]["code"] == -32601 and unknown["error"]["data"]["value"] == "get.chat_report"


@pytest.mark.parametrize("status, expected", [("blocked", "access_token_blocked"),
                                              ("expired", "access_token_expired")])
def test_token_states(web, status, expected):
    assert mnemonic(rpc(web, "get.account", token="nope")) == "access_token_invalid"
    web.post("/control/config", json={"tokens": {TOKEN: status}})
    reply = rpc(web, "get.account")
    assert reply["error"]["code"] == -32001 and mnemonic(reply) == expected


def test_login_logout_session(web):
    assert mnemonic(rpc(web, "login.user", {"login": "sandbox", "password": "bad"}, token=None)) == "auth_error"
    session = data(rpc(web, "login.user", {"login": "sandbox", "password": "sandbox-password"}, token=None))
    assert session["app_id"] == 1103425 and session["expire_at"] > 0
    assert data(rpc(web, "get.account", token=session["access_token"]))
    assert data(rpc(web, "logout.user", token=session["access_token"])) == {}
    assert mnemonic(rpc(web, "get.account", token=session["access_token"])) == "access_token_invalid"


def test_ip_allow_list(web):
    web.post("/control/config", json={"ip_allowlist_enabled": True, "allowed_ips": ["10.0.0.0/8"],
                                      "caller_ip": "203.0.113.7"})
    reply = rpc(web, "get.account")
    assert reply["error"]["code"] == -32003 and mnemonic(reply) == "ip_not_whitelisted"
    assert reply["error"]["data"]["params"] == {"ip": "203.0.113.7"}
    assert "203.0.113.7" in reply["error"]["message"]
    web.post("/control/config", json={"caller_ip": "10.1.2.3"})
    assert data(rpc(web, "get.account"))


def test_limits_per_minute_and_day(web):
    web.post("/control/config", json={"minute_limit": 3})
    for _ in range(3):
        assert "result" in rpc(web, "get.account")
    reply = rpc(web, "get.account")
    assert reply["error"]["code"] == -32029 and reply["error"]["data"]["params"]["limit_type"] == "minute"
    assert reply["error"]["data"]["metadata"]["limits"]["minute_remaining"] == 0
    web.post("/control/config", json={"minute_limit": 100, "day_remaining": 0})
    day = rpc(web, "get.account")
    assert day["error"]["data"]["params"] == {"limit_type": "day", "limit_max_value": 10000}


def test_errors_are_not_charged(web):
    rpc(web, "get.chats_report", {})
    assert rpc(web, "get.account")["result"]["metadata"]["limits"]["minute_remaining"] == 119


def test_fail_next_and_disabled_methods(web):
    web.post("/control/config", json={"fail_next": {"mnemonic": "internal_error", "count": 2}})
    assert rpc(web, "get.account")["error"]["code"] == -32603
    assert rpc(web, "get.account")["error"]["code"] == -32603
    assert "result" in rpc(web, "get.account")
    web.post("/control/config", json={"disabled_methods": ["get.chat_messages_report"]})
    reply = rpc(web, "get.chat_messages_report", {"chat_id": 880011223})
    assert reply["error"]["code"] == -32008
    assert web.post("/control/config", json={"fail_next": {"mnemonic": "nope"}}).status_code == 400


# --- reports ----------------------------------------------------------------------------------------
def test_reports_need_dates_and_check_them(web):
    missing = rpc(web, "get.offline_messages_report", {"date_from": DAY["date_from"]})
    assert mnemonic(missing) == "required_parameter_missed" and missing["error"]["data"]["field"] == "date_till"
    bad = rpc(web, "get.chats_report", {"date_from": "2025-13-45 00:00:00", "date_till": DAY["date_till"]})
    assert mnemonic(bad) == "invalid_parameter_value"
    long = rpc(web, "get.chats_report", {"date_from": "2025-01-01 00:00:00", "date_till": "2025-04-02 00:00:00"})
    assert mnemonic(long) == "date_interval_limit_reached"
    assert "result" in rpc(web, "get.chats_report", {"date_from": "2025-01-01 00:00:00",
                                                     "date_till": "2025-04-01 00:00:00"})
    msgs = rpc(web, "get.chat_messages_report", {"date_from": "2025-10-01 00:00:00", "date_till": DAY["date_till"]})
    assert mnemonic(msgs) == "date_interval_limit_reached"
    assert mnemonic(rpc(web, "get.chat_messages_report", {})) == "required_parameter_missed"
    assert mnemonic(rpc(web, "get.chats_report", {**DAY, "colour": 1})) == "unexpected_parameters"


def test_date_window_is_inclusive(web):
    rows = data(rpc(web, "get.offline_messages_report", {"date_from": "2025-11-20 09:14:27",
                                                          "date_till": "2025-11-20 11:02:10", "fields": ["id"]}))
    assert [r["id"] for r in rows] == [660012345, 660012346]
    rows = data(rpc(web, "get.offline_messages_report", {"date_from": "2025-11-20 09:14:28",
                                                          "date_till": "2025-11-20 11:02:09", "fields": ["id"]}))
    assert rows == []


def test_default_fields_versus_requested(web):
    default = data(rpc(web, "get.offline_messages_report", DAY))[0]
    assert "visitor_name" in default and "site_domain_name" not in default and "date_time" not in default
    asked = data(rpc(web, "get.offline_messages_report", {**DAY, "fields": ["id", "site_domain_name", "utm_source"]}))
    assert asked[0] == {"id": 660012345, "site_domain_name": "shop.example.ru", "utm_source": "yandex"}
    unknown = rpc(web, "get.offline_messages_report", {**DAY, "fields": ["id", "shoe_size"]})
    assert mnemonic(unknown) == "invalid_parameter_value" and unknown["error"]["data"]["value"] == "shoe_size"


@pytest.mark.parametrize("filter_, expected", [
    ({"field": "status", "operator": "=", "value": "lost"}, [880011225]),
    ({"field": "status", "operator": "!=", "value": "lost"}, [880011223, 880011224]),
    ({"field": "employee_id", "operator": "=", "value": None}, [880011225]),
    ({"field": "answer_time", "operator": "<", "value": 20}, [880011223]),
    ({"field": "answer_time", "operator": ">=", "value": 18}, [880011223, 880011224]),
    ({"field": "answer_time", "operator": "<=", "value": 18}, [880011223]),
    ({"field": "answer_time", "operator": ">", "value": 18}, [880011224]),
    ({"field": "chat_channel_id", "operator": "in", "value": [3101, 3103]}, [880011223, 880011225]),
    ({"field": "chat_channel_name", "operator": "like", "value": "%WhatsApp%"}, [880011224]),
    ({"filters": [{"field": "status", "operator": "=", "value": "lost"},
                  {"field": "chat_channel_id", "operator": "=", "value": 3101}], "condition": "or"},
     [880011223, 880011225]),
    ({"filters": [{"field": "status", "operator": "in", "value": ["succeed", "active"]},
                  {"filters": [{"field": "chat_channel_type", "operator": "=", "value": "whatsapp"},
                               {"field": "employee_id", "operator": "=", "value": 45012}], "condition": "or"}],
      "condition": "and"}, [880011223, 880011224]),
])
def test_filter_tree(web, filter_, expected):
    rows = data(rpc(web, "get.chats_report", {**DAY, "fields": ["id"], "filter": filter_}))
    assert sorted(r["id"] for r in rows) == expected


def test_filter_and_sort_rules(web):
    prohibited = rpc(web, "get.chats_report", {**DAY, "filter": {"field": "date_time", "operator": ">",
                                                                 "value": "2025-11-20 00:00:00"}})
    assert mnemonic(prohibited) == "filter_prohibited" and prohibited["error"]["data"]["value"] == "date_time"
    bad_operator = rpc(web, "get.chats_report", {**DAY, "filter": {"field": "status", "operator": "~", "value": 1}})
    assert mnemonic(bad_operator) == "invalid_parameter_value"
    rows = data(rpc(web, "get.chats_report", {**DAY, "fields": ["id"], "sort": [{"field": "date_time",
                                                                                  "order": "desc"}]}))
    assert [r["id"] for r in rows] == [880011225, 880011224, 880011223]
    sort_bad = rpc(web, "get.chat_messages_report", {"chat_id": 880011223, "sort": [{"field": "text"}]})
    assert mnemonic(sort_bad) == "sort_prohibited"


def test_paging_caps_and_total_items(web):
    for i in range(25):
        web.post("/control/offline_messages", json={"visitor_name": f"N{i}", "text": "x",
                                                    "date_time": "2025-11-21 10:00:00"})
    params = {"date_from": "2025-11-21 00:00:00", "date_till": "2025-11-21 23:59:59", "fields": ["id"],
              "sort": [{"field": "id", "order": "asc"}]}
    first = rpc(web, "get.offline_messages_report", {**params, "limit": 10, "offset": 0})
    last = rpc(web, "get.offline_messages_report", {**params, "limit": 10, "offset": 20})
    assert first["result"]["metadata"]["total_items"] == 25
    assert len(data(first)) == 10 and len(data(last)) == 5
    assert mnemonic(rpc(web, "get.offline_messages_report", {**params, "limit": 10001})) == "invalid_parameter_value"
    assert mnemonic(rpc(web, "get.offline_messages_report", {**params, "offset": 100001})) == "invalid_parameter_value"
    assert mnemonic(rpc(web, "get.offline_messages_report", {**params, "limit": "10"})) == "data_type_error"


def test_reference_methods(web):
    assert [e["id"] for e in data(rpc(web, "get.employees"))] == [45012, 45013, 45014, 45015]
    assert [s["id"] for s in data(rpc(web, "get.sites"))] == [7301, 7302]
    assert [c["id"] for c in data(rpc(web, "get.chat_channels"))] == [3101, 3102, 3103, 3104]
    visitors = data(rpc(web, "get.visitors", {"ids": [5123456701, 5123456703, 1]}))
    assert [v["id"] for v in visitors] == [5123456701, 5123456703]
    assert mnemonic(rpc(web, "get.visitors")) == "required_parameter_missed"
    messages = data(rpc(web, "get.chat_messages_report", {"chat_ids": [880011223]}))
    assert len(messages) == 6 and messages[0]["source"] == "visitor"
    calls = data(rpc(web, "get.calls_report", {**DAY, "filter": {"field": "is_lost", "operator": "=", "value": True},
                                                "fields": ["id"]}))
    assert calls == [{"id": 3100012346}]


# --- control API ------------------------------------------------------------------------------------
def test_offline_message_lifecycle(web):
    created = web.post("/control/offline_messages", json={
        "visitor_name": "Пётр", "visitor_phone_number": "79990001122", "visitor_email": "p@example.ru",
        "text": "Перезвоните", "site": "example.ru", "form_name": "Обратный звонок", "utm_source": "google"}).get_json()
    row = created["row"]
    assert created["deliveries"] == []
    assert row["status"] == "not_processed" and row["site_id"] == 7302 and row["form_name"] == "Обратный звонок"
    processed = web.post(f"/control/offline_messages/{row['id']}/process", json={"employee_id": 45013}).get_json()
    assert processed["row"]["status"] == "processed" and processed["row"]["employee_full_name"].startswith("Петрова")
    found = data(rpc(web, "get.offline_messages_report", {
        "date_from": "2000-01-01 00:00:00", "date_till": "2000-03-01 00:00:00"}))
    assert found == []
    state = web.get("/control/state.json").get_json()
    mine = next(r for r in state["offline_messages"] if r["id"] == row["id"])
    assert mine["process_time"] and mine["utm_source"] == "google"
    assert web.post("/control/offline_messages/1/process", json={}).status_code == 400


def test_chat_lifecycle(web):
    created = web.post("/control/chats", json={"visitor_name": "Анна", "visitor_phone_number": "79161112233",
                                                "channel_id": 3102, "text": "Здравствуйте"}).get_json()
    chat = created["row"]
    assert chat["status"] == "new" and chat["messages_count"] == 1 and chat["chat_channel_type"] == "whatsapp"
    reply = web.post(f"/control/chats/{chat['id']}/messages", json={"source": "operator", "text": "Добрый день"})
    assert reply.get_json()["chat"]["status"] == "active"
    finished = web.post(f"/control/chats/{chat['id']}/finish", json={}).get_json()
    assert finished["row"]["status"] == "succeed"
    assert web.post(f"/control/chats/{chat['id']}/finish", json={}).status_code == 400
    rows = data(rpc(web, "get.chat_messages_report", {"chat_id": chat["id"]}))
    assert [m["source"] for m in rows] == ["visitor", "operator"]
    visitor = data(rpc(web, "get.visitors", {"ids": [chat["visitor_id"]]}))[0]
    assert visitor["name"] == "Анна" and visitor["phones"] == ["79161112233"]


def test_times_the_reports_could_not_read_back_are_refused(web):
    assert web.post("/control/offline_messages", json={"text": "x", "date_time": "20.11.2025"}).status_code == 400
    assert web.post("/control/chats", json={"text": "x", "date_time": "2025-11-20T10:00"}).status_code == 400
    assert web.post("/control/chats", json={"messages": [{"text": "x", "date_time": "now"}]}).status_code == 400
    assert data(rpc(web, "get.offline_messages_report", DAY))  # the reports still read every row

def test_reset_and_counters(web):
    rpc(web, "get.account")
    rpc(web, "get.account")
    web.post("/control/offline_messages", json={"text": "x"})
    state = web.get("/control/state.json").get_json()
    assert state["counters"]["get.account"] == 2 and len(state["offline_messages"]) == 3
    reset = web.post("/control/reset").get_json()
    assert reset["token"] == TOKEN and reset["account_id"] == 1103425
    state = web.get("/control/state.json").get_json()
    assert state["counters"] == {} and len(state["offline_messages"]) == 2


# --- notification delivery to a real loopback server -----------------------------------------------
@pytest.fixture
def hook_server():
    received = []

    class Handler(BaseHTTPRequestHandler):
        def _record(self, status=200):
            length = int(self.headers.get("Content-Length") or 0)
            received.append({"method": self.command, "path": self.path,
                             "body": self.rfile.read(length).decode() if length else "",
                             "content_type": self.headers.get("Content-Type")})
            self.send_response(status)
            self.end_headers()
            self.wfile.write(b"ok")

        def do_POST(self):  # noqa: N802 - http.server's naming
            self._record(500 if "fail" in self.path else 200)

        def do_GET(self):  # noqa: N802
            self._record()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", received
    server.shutdown()
    server.server_close()


def test_offline_notification_post_duplicate_in_uis_default_template(web, hook_server):
    base, received = hook_server
    reply = web.post("/control/offline_messages", json={
        "visitor_name": "Сергей", "visitor_phone_number": "79167778899", "text": "Диван", "site_id": 7301,
        "notify_url": f"{base}/hooks/uis/abc", "duplicate": True}).get_json()
    assert [d["status"] for d in reply["deliveries"]] == [200, 200]
    assert len(received) == 2 and received[0]["body"] == received[1]["body"]
    body = json.loads(received[0]["body"])
    assert received[0]["path"] == "/hooks/uis/abc" and received[0]["content_type"].startswith("application/json")
    # Nobody pasted a template: UIS sends its own default, nested and without an "event" key.
    assert "event" not in body and body["offline_message_id"] == reply["row"]["id"]
    assert body["visitor"]["visitor_name"] == "Сергей" and body["site_domain_name"] == "shop.example.ru"
    assert body["visitor"]["visitor_email"] is None


def test_offline_notification_get_and_pasted_app_template(web, hook_server):
    base, received = hook_server
    web.post("/control/offline_messages", json={"visitor_name": "Ольга", "text": "Счёт",
                                                "notify_url": f"{base}/hooks/uis/abc?x=1", "notify_method": "GET"})
    query = dict(parse_qsl(urlsplit(received[0]["path"]).query, keep_blank_values=True))
    assert received[0]["method"] == "GET" and query["x"] == "1" and "event" not in query
    assert query["visitor_name"] == "Ольга" and query["visitor_email"] == ""
    # The administrator pastes the app's suggested template (taken from the app here, in the test).
    pasted = app_template("offline_message", "POST")
    web.post("/control/offline_messages", json={"visitor_name": "Ольга", "notify_url": f"{base}/h",
                                                "template": pasted})
    flat = json.loads(received[1]["body"])
    assert flat["event"] == "offline_message" and flat["visitor_name"] == "Ольга"
    assert web.post("/control/offline_messages", json={"text": "x", "template": "app"}).status_code == 400


def test_chat_finish_notifications(web, hook_server):
    base, received = hook_server
    chat = web.post("/control/chats", json={"visitor_name": "Анна", "text": "Есть диван?"}).get_json()["row"]
    web.post(f"/control/chats/{chat['id']}/finish", json={"status": "lost", "notify_url": f"{base}/h"})
    lost = json.loads(received[0]["body"])
    assert "event" not in lost and "status" not in lost and lost["chat_id"] == chat["id"]
    assert lost["notification_name"] == "Потеряный чат" and lost["visitor_info"]["visitor_name"] == "Анна"
    other = web.post("/control/chats", json={"status": "active", "messages": [
        {"source": "visitor", "text": "a"}, {"source": "operator", "text": "b"}]}).get_json()["row"]
    web.post(f"/control/chats/{other['id']}/finish", json={"notify_url": f"{base}/h"})
    finished = json.loads(received[1]["body"])
    assert "event" not in finished and finished["status"] == "succeed" and finished["messages"] == 2


def test_call_notification(web, hook_server):
    base, received = hook_server
    call = web.post("/control/calls", json={"contact_phone_number": "79035556677", "talk_duration": 90,
                                            "employee_id": 45012, "with_record": False,
                                            "notify_url": f"{base}/h"}).get_json()
    bodies = [json.loads(r["body"]) for r in received]
    assert [b["notification_name"] for b in bodies] == ["Входящий звонок на виртуальный номер", "Завершение звонка"]
    finished = bodies[1]["call_info"]
    assert finished["call_session_id"] == call["row"]["id"] and finished["talk_time_duration"] == 90
    assert bodies[1]["employee_info"]["employee_id"] == 45012


def test_delivery_failure_is_reported_not_raised(web, hook_server):
    base, _ = hook_server
    reply = web.post("/control/offline_messages", json={"text": "x", "notify_url": f"{base}/fail"}).get_json()
    assert reply["deliveries"][0]["status"] == 500 and reply["deliveries"][0]["ok"] is False
    closed = web.post("/control/offline_messages", json={"text": "x", "notify_url": "http://127.0.0.1:9/h"})
    assert closed.status_code == 200 and closed.get_json()["deliveries"][0]["error"]


# --- the page ---------------------------------------------------------------------------------------
def test_cabinet_page_creates_request_and_keeps_hook(web, hook_server):
    base, received = hook_server
    page = web.get("/?hook=" + f"{base}/hooks/uis/tok").get_data(as_text=True)
    assert "Создать офлайн заявку" in page and f"{base}/hooks/uis/tok" in page and "660012345" in page
    reply = web.post("/ui/offline_messages", data={
        "visitor_name": "Сергей", "visitor_phone_number": "79167778899", "visitor_email": "s@example.ru",
        "text": "Хочу диван", "site_id": "7301", "hook_url": f"{base}/hooks/uis/tok", "notify_method": "POST"})
    assert reply.status_code == 302
    assert len(received) == 1 and json.loads(received[0]["body"])["visitor"]["visitor_email"] == "s@example.ru"
    page = web.get("/").get_data(as_text=True)
    assert "Хочу диван" in page and f"{base}/hooks/uis/tok" in page  # last used hook prefilled
    new_id = web.get("/control/state.json").get_json()["offline_messages"][-1]["id"]
    assert web.post(f"/ui/offline_messages/{new_id}/process", data={"employee_id": "45014"}).status_code == 302
    web.post("/ui/chats", data={"visitor_name": "Анна", "text": "Привет", "channel_id": "3101"})
    chat_id = web.get("/control/state.json").get_json()["chats"][-1]["id"]
    web.post(f"/ui/chats/{chat_id}/reply", data={})
    web.post(f"/ui/chats/{chat_id}/finish", data={"hook_url": f"{base}/hooks/uis/tok"})
    assert json.loads(received[-1]["body"])["status"] == "succeed"
