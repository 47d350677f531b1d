"""UIS calls in the sandbox: the reports (§8, §9), the "Позвонить" form and the notifications of one call (§10)."""
from __future__ import annotations

import json
from collections import Counter
from urllib.parse import urlsplit

import pytest

from bx_app.sandbox.uis import calls, notify
from bx_app.sandbox.uis import state as st
from bx_app.uis.notifications import default_template as app_template
from tests.sandbox import uis_fixtures
from tests.sandbox.uis_fixtures import DAY, data, mnemonic, reference, rpc

sandbox, web, hook_server = uis_fixtures.sandbox, uis_fixtures.web, uis_fixtures.hook_server

WIDE = {"date_from": "2020-01-01 00:00:00", "date_till": "2020-03-31 23:59:59"}


def place(web, **body):
    reply = web.post("/control/calls", json={"contact_phone_number": "79035556677", **body})
    assert reply.status_code == 200, reply.get_json()
    return reply.get_json()


def bodies(received):
    return [json.loads(r["body"]) for r in received]


def call_id_of(body: dict):
    return body.get("call_session_id") or body.get("call_info", {}).get("call_session_id")


# --- reports ------------------------------------------------------------------------------------------
def test_calls_report_default_fields_and_the_reference_rows(web):
    rows = data(rpc(web, "get.calls_report", DAY))
    assert [r["id"] for r in rows] == [3100012345, 3100012346]
    assert set(rows[0]) == set(st.CALL_DEFAULTS)
    request = reference("get_calls_report_request.json")["params"]
    params = {k: v for k, v in request.items() if k != "access_token"}
    expected = reference("get_calls_report_response.json")["result"]["data"]
    assert data(rpc(web, "get.calls_report", params)) == [r for r in expected if r["direction"] == "in"]


def test_calls_report_filters_sort_and_paging(web):
    for n in range(7):
        place(web, start_time=f"2020-02-0{n + 1} 10:00:00", direction="out" if n % 2 else "in",
              answered=n % 3 != 0, with_record=False)
    both = {**WIDE, "fields": ["id", "direction", "is_lost"], "sort": [{"field": "start_time", "order": "desc"}]}
    everything = data(rpc(web, "get.calls_report", both))
    assert len(everything) == 7 and everything[0]["id"] > everything[-1]["id"]
    lost_in = rpc(web, "get.calls_report", {**both, "filter": {"filters": [
        {"field": "direction", "operator": "=", "value": "in"},
        {"field": "is_lost", "operator": "=", "value": True}], "condition": "and"}})
    assert {(r["direction"], r["is_lost"]) for r in data(lost_in)} == {("in", True)}
    page = rpc(web, "get.calls_report", {**both, "limit": 3, "offset": 6})
    assert page["result"]["metadata"]["total_items"] == 7 and len(data(page)) == 1
    assert mnemonic(rpc(web, "get.calls_report", {**WIDE, "filter": {
        "field": "start_time", "operator": ">", "value": "2020-02-01 00:00:00"}})) == "filter_prohibited"
    assert mnemonic(rpc(web, "get.calls_report", {**WIDE, "sort": [{"field": "talk_duration"}]})) == "sort_prohibited"
    assert mnemonic(rpc(web, "get.calls_report", {"date_from": WIDE["date_from"]})) == "required_parameter_missed"
    assert mnemonic(rpc(web, "get.calls_report", {**WIDE, "include_ongoing_calls": "yes"})) == "data_type_error"
    assert mnemonic(rpc(web, "get.calls_report", {"date_from": "2020-01-01 00:00:00",
                                                  "date_till": "2020-06-01 00:00:00"})) == "date_interval_limit_reached"


def test_ongoing_calls_only_with_include_ongoing_calls(web, hook_server):
    base, received = hook_server
    call = place(web, ongoing=True, notify_url=f"{base}/h")["row"]
    assert [b["notification_name"] for b in bodies(received)] == ["Входящий звонок на виртуальный номер"]
    window = {"date_from": call["start_time"][:10] + " 00:00:00", "date_till": call["start_time"][:10] + " 23:59:59",
              "fields": ["id", "finish_time"]}
    assert call["id"] not in [r["id"] for r in data(rpc(web, "get.calls_report", window))]
    ongoing = data(rpc(web, "get.calls_report", {**window, "include_ongoing_calls": True}))
    assert {"id": call["id"], "finish_time": None} in ongoing
    finished = web.post(f"/control/calls/{call['id']}/finish", json={"notify_url": f"{base}/h"}).get_json()
    assert finished["row"]["finish_time"] and len(received) == 3
    assert call["id"] in [r["id"] for r in data(rpc(web, "get.calls_report", window))]
    assert web.post(f"/control/calls/{call['id']}/finish", json={}).status_code == 400


def test_call_legs_report(web):
    legs = data(rpc(web, "get.call_legs_report", {**DAY, "filter": {
        "field": "call_session_id", "operator": "=", "value": 3100012345}}))
    assert set(legs[0]) == set(st.CALL_LEG_DEFAULTS)
    assert [(leg["is_operator"], leg["employee_id"]) for leg in legs] == [(False, None), (True, 45013), (True, 45012)]
    full = data(rpc(web, "get.call_legs_report", {**DAY, "fields": ["call_session_id", "employee_id", "is_talked"],
                                                  "sort": [{"field": "call_session_id", "order": "desc"}]}))
    assert full[0]["call_session_id"] == 3100012346 and not any(r["is_talked"] for r in full[:3])
    assert {"call_session_id": 3100012345, "employee_id": 45012, "is_talked": True} in full
    assert mnemonic(rpc(web, "get.call_legs_report", {**DAY, "filter": {
        "field": "connect_time", "operator": "=", "value": None}})) == "filter_prohibited"


def test_scenarios_and_virtual_numbers_as_the_reference(web):
    assert data(rpc(web, "get.scenarios")) == reference("get_scenarios_response.json")["result"]["data"]
    numbers = rpc(web, "get.virtual_numbers", {"filter": {"field": "status", "operator": "=", "value": "active"}})
    assert data(numbers) == reference("get_virtual_numbers_response.json")["result"]["data"]
    assert numbers["result"]["metadata"]["total_items"] == 1


# --- one call's notifications -------------------------------------------------------------------------
CASES = [
    ("in", True, True, ["Входящий звонок на виртуальный номер", "Завершение звонка", "Записанный разговор"]),
    ("in", True, False, ["Входящий звонок на виртуальный номер", "Завершение звонка"]),
    ("in", False, False, ["Входящий звонок на виртуальный номер", "Потерянный звонок", "Завершение звонка"]),
    ("out", True, True, ["Исходящий звонок", "Завершение звонка", "Записанный разговор"]),
    ("out", False, False, ["Исходящий звонок", "Завершение звонка"]),
]


@pytest.mark.parametrize(("direction", "answered", "with_record", "names"), CASES,
                         ids=["in-answered-record", "in-answered", "in-missed", "out-answered-record", "out-missed"])
def test_call_form_sends_one_calls_notifications_in_order(web, hook_server, direction, answered, with_record, names):
    base, received = hook_server
    reply = web.post("/ui/calls", data={
        "direction": direction, "answered": "yes" if answered else "no", "with_record": "on" if with_record else "",
        "contact_phone_number": "79161112233", "virtual_phone_number": "74951234567", "employee_id": "",
        "wait_duration": "15", "talk_duration": "120", "hook_url": f"{base}/hooks/uis/call"})
    assert reply.status_code == 302
    sent = bodies(received)
    assert [b["notification_name"] for b in sent] == names
    row = web.get("/control/state.json").get_json()["calls"][-1]
    assert {call_id_of(b) for b in sent} == {row["id"]} and row["communication_id"] == row["id"]
    assert row["is_lost"] is (not answered) and row["direction"] == direction
    assert sent[0]["notification_time"] == row["start_time"]
    assert all(b["notification_time"] == row["finish_time"] for b in sent[1:] if "call_record_file_info" not in b)
    assert row["finish_time"] == notify._shift(row["start_time"], (15 + 120) if answered else 15)
    assert (row["talk_duration"], row["wait_duration"]) == ((120 if answered else 0), 15)
    assert row["finish_reason"] == ("no_success_subscriber_call" if direction == "out" and not answered
                                    else "subscriber_disconnects")
    if direction == "in":
        assert sent[0]["contact_info"]["contact_phone_number"] == "79161112233"
        assert sent[0]["scenario_name"] == "Входящие — отдел продаж"
    else:
        assert sent[0]["employee_info"] == {"employee_full_name": "Иванов Иван Иванович", "employee_id": 45012,
                                            "employee_phone_number": "79161234567"}
    if not answered and direction == "in":
        assert sent[1]["employee_ids"] == [45012, 45013] and sent[1]["wait_time_duration"] == 15
    if with_record:
        link = sent[-1]["call_record_file_info"]["file_link"]
        assert link == row["full_record_file_link"] and link.startswith("http://localhost/media/")
        assert sent[-1]["call_record_file_info"]["call_record_duration"] == 120
        record = web.get(urlsplit(link).path)
        assert record.status_code == 200 and record.mimetype == "audio/mpeg"
        assert record.data[:2] == b"\xff\xfb" and len(record.data) % 417 == 0
    else:
        assert row["full_record_file_link"] is None and row["call_records"] == []
    report = data(rpc(web, "get.calls_report", {"date_from": row["start_time"], "date_till": row["start_time"],
                                                "fields": ["id", "is_lost", "employees"]}))
    assert report[-1]["id"] == row["id"] and report[-1]["is_lost"] is (not answered)


def test_unknown_record_is_404(web):
    assert web.get("/media/3100012345/nope.mp3").status_code == 404
    assert web.get("/media/3100012345/a1b2c3d4e5f6a7b8").status_code == 200


def test_calls_counted_per_contact_and_in_the_accounts_zone(web, sandbox):
    first = place(web, contact_phone_number="79998887766")["row"]
    second = place(web, contact_phone_number="79998887766")["row"]
    assert (first["communication_number"], second["communication_number"]) == (1, 2)
    state = sandbox.extensions["uis_sandbox_state"]
    assert abs((notify.datetime.strptime(state.now(), st.TIME_FORMAT)
                - notify.datetime.strptime(second["start_time"], st.TIME_FORMAT)).total_seconds()) < 5


def test_duplicates_and_reordering(web, hook_server):
    base, received = hook_server
    in_order = place(web, notify_url=f"{base}/h", with_record=True)["deliveries"]
    expected = [d["event"] for d in in_order]
    assert expected == ["in_call_session", "call_session_finished", "talk_record_file"]
    received.clear()
    reversed_ = place(web, notify_url=f"{base}/h", with_record=True, order="reversed", duplicate=True)
    assert [d["event"] for d in reversed_["deliveries"]] == [e for e in reversed(expected) for _ in range(2)]
    assert received[0]["body"] == received[1]["body"]
    shuffled = place(web, notify_url=f"{base}/h", with_record=True, order="shuffled", seed=3, duplicate=True)
    events = [d["event"] for d in shuffled["deliveries"]]
    assert Counter(events) == Counter(expected * 2) and events != sorted(events, key=expected.index)
    # As a standing option of the cabinet too.
    web.post("/control/config", json={"hook_url": f"{base}/h", "order": "reversed"})
    standing = place(web, with_record=False)
    assert [d["event"] for d in standing["deliveries"]] == ["call_session_finished", "in_call_session"]
    assert web.post("/control/calls", json={"contact_phone_number": "1", "order": "sideways"}).status_code == 400


def test_only_subscribed_events_and_a_pasted_template(web, hook_server):
    base, received = hook_server
    pasted = app_template("call_session_finished", "POST")
    reply = place(web, notify_url=f"{base}/h", events=["call_session_finished"], with_record=False,
                  templates={"call_session_finished": pasted})
    assert [d["event"] for d in reply["deliveries"]] == ["call_session_finished"]
    body = json.loads(received[0]["body"])
    assert body.keys() == json.loads(notify.PLACEHOLDER.sub("null", pasted)).keys()
    assert body["call_session_id"] == reply["row"]["id"]


def test_bad_calls_are_refused_and_nothing_is_stored(web):
    before = len(web.get("/control/state.json").get_json()["calls"])
    for body in ({"contact_phone_number": ""}, {"contact_phone_number": "abc"},
                 {"contact_phone_number": "7", "direction": "up"}, {"contact_phone_number": "7", "talk_duration": "x"},
                 {"contact_phone_number": "7", "employee_id": 1}, {"contact_phone_number": "7", "events": ["ring"]},
                 {"contact_phone_number": "7", "template": "{broken"},
                 {"contact_phone_number": "7", "start_time": "yesterday"}, {"contact_phone_number": "7", "site_id": 1}):
        reply = web.post("/control/calls", json=body)
        assert reply.status_code == 400 and reply.get_json()["error"], body
    assert len(web.get("/control/state.json").get_json()["calls"]) == before
    page = web.post("/ui/calls", data={"contact_phone_number": "", "direction": "in"})
    assert "Звонок не совершён" in web.get(page.headers["Location"]).get_data(as_text=True)


def test_cabinet_prefills_the_configured_hook(web, hook_server):
    base, received = hook_server
    web.post("/control/config", json={"hook_url": f"{base}/hooks/uis/default"})
    page = web.get("/").get_data(as_text=True)
    assert page.count(f'value="{base}/hooks/uis/default"') >= 3  # settings, call form, offline form
    assert "Позвонить" in page
    web.post("/control/offline_messages", json={"visitor_name": "Пётр", "text": "x"})
    assert received[-1]["path"] == "/hooks/uis/default"
    assert calls.record_body()[:2] == b"\xff\xfb"


def test_a_link_naming_the_hook_prefills_it_from_then_on(web):
    web.get("/?hook=http://127.0.0.1:8000/hooks/uis/from-link")
    assert 'value="http://127.0.0.1:8000/hooks/uis/from-link"' in web.get("/").get_data(as_text=True)
    web.get("/?hook=javascript:alert(1)")
    assert "javascript:" not in web.get("/").get_data(as_text=True)

