"""Calls as planner tables: register → finish → record in Bitrix24 telephony, the lead/deal in the same batch,
which calls pass, responsibles, first/repeat, and every stage adding only what the call still lacks."""
from __future__ import annotations

import copy
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from bx_app.integration.planner import EventFacts, Lookup, gate, plan
from bx_app.settings_store import DEFAULTS
from bx_app.uis.notifications import flatten_payload, parse_notification
from tests.conftest import reference_fixture

ZONE = ZoneInfo("Europe/Moscow")
ROWS = reference_fixture("uis/get_calls_report_response.json")["result"]["data"]
ANSWERED, MISSED = ROWS[0], ROWS[1]  # 3100012345 answered with a record; 3100012346 lost
RECORD = ANSWERED["full_record_file_link"]


def note(name: str) -> dict:
    body = {k: v for k, v in reference_fixture(f"uis/{name}").items() if not k.startswith("_")}
    return parse_notification(body).fields


def settings(**calls) -> dict:
    s = copy.deepcopy(DEFAULTS)
    s["main"].update(active=True, default_responsible_id=1)
    s["calls"].update(active=True, **calls)
    return s


def call(stage="finished", payload=None, row=ANSWERED, state=None, when=datetime(2025, 11, 20, 12, 5, 47)):
    if payload is None:
        payload = note({"finished": "notification_call_session_finished.json",
                        "lost": "notification_lost_call_session.json",
                        "started": "notification_in_call_session.json",
                        "record_ready": "notification_talk_record_file.json"}[stage])
    extra = {"call_state": state or {}}
    if row is not None:
        extra["call"] = row
    return EventFacts(id=7, kind="call", stage=stage, external_id=str(payload["call_session_id"]), payload=payload,
                      occurred_at=when.replace(tzinfo=ZONE), extra=extra)


def planned(event, s=None, **lookup):
    s = s or settings()
    return gate(event, s) or plan(event, s, Lookup(**lookup), gated=True)


def test_an_answered_incoming_call_at_its_finish_is_a_lead_the_call_registered_on_it_finished_and_its_record():
    p = planned(call(), employee_user_id=5)
    assert list(p.commands) == ["lead", "register", "finish", "record", "notify"]
    register = p.commands["register"][1]
    assert p.commands["register"][0] == "telephony.externalcall.register"
    assert register == {"USER_ID": 5, "PHONE_NUMBER": "+79161112233", "TYPE": 2, "EXTERNAL_CALL_ID": "uis-3100012345",
                        "SHOW": 0, "CRM_CREATE": 0, "CALL_START_DATE": "2025-11-20T12:01:05+03:00",
                        "LINE_NUMBER": "74951234567", "CRM_ENTITY_TYPE": "LEAD", "CRM_ENTITY_ID": "$result[lead]"}
    assert p.commands["finish"] == ("telephony.externalcall.finish", {
        "CALL_ID": "$result[register][CALL_ID]", "USER_ID": 5, "DURATION": 270, "STATUS_CODE": "200"})
    assert p.commands["record"] == ("telephony.externalcall.attachrecord",
                                    {"CALL_ID": "$result[register][CALL_ID]", "RECORD_URL": RECORD})
    lead = p.commands["lead"][1]["fields"]
    assert (lead["TITLE"], lead["SOURCE_ID"], lead["ORIGIN_ID"], lead["ASSIGNED_BY_ID"]) == (
        "Звонок +79161112233", "CALL", "call:3100012345", 5)
    assert "Разговор, с:</b> 270" in lead["COMMENTS"]


@pytest.mark.parametrize("case, stage, row, payload_changes, expected", [
    ("lost incoming: 304, no record", "lost", MISSED, {}, {"TYPE": 2, "STATUS_CODE": "304", "DURATION": 0}),
    ("finished, missed by the report", "finished", MISSED, {"talk_time_duration": 0, "call_session_id": 3100012346},
     {"TYPE": 2, "STATUS_CODE": "304", "DURATION": 0}),
    ("outgoing answered", "finished", {**ANSWERED, "direction": "out"}, {"direction": "out"},
     {"TYPE": 1, "STATUS_CODE": "200", "DURATION": 270}),
    ("busy", "finished", {**MISSED, "finish_reason": "subscriber_busy"}, {"talk_time_duration": 0},
     {"TYPE": 2, "STATUS_CODE": "486", "DURATION": 0}),
])
def test_type_status_and_duration(case, stage, row, payload_changes, expected):
    event = call(stage, row=row)
    event = EventFacts(**{**event.__dict__, "payload": {**event.payload, **payload_changes}})
    p = planned(event)
    register, finish = p.commands["register"][1], p.commands["finish"][1]
    assert {"TYPE": register["TYPE"], "STATUS_CODE": finish["STATUS_CODE"], "DURATION": finish["DURATION"]} == \
        expected, case
    assert ("record" in p.commands) is bool(row.get("full_record_file_link")), case


@pytest.mark.parametrize("case, options, stage, row, reason", [
    ("only outgoing", {"directions": ["out"]}, "finished", ANSWERED, "filtered_out"),
    ("only answered", {"outcomes": ["answered"]}, "lost", MISSED, "filtered_out"),
    ("only missed", {"outcomes": ["missed"]}, "finished", ANSWERED, "filtered_out"),
    ("too short", {"min_talk_seconds": 300}, "finished", ANSWERED, "filtered_out"),
    ("long enough", {"min_talk_seconds": 200}, "finished", ANSWERED, None),
    ("scenario filter", {"filter": {"op": "and", "items": [
        {"field": "scenario", "operator": "eq", "value": "Другой"}]}}, "finished", ANSWERED, "filtered_out"),
    ("virtual number filter", {"filter": {"op": "and", "items": [
        {"field": "virtual_number", "operator": "eq", "value": "74951234567"}]}}, "finished", ANSWERED, None),
    ("UTM filter from the report row", {"filter": {"op": "and", "items": [
        {"field": "utm_source", "operator": "eq", "value": "google"}]}}, "finished", ANSWERED, "filtered_out"),
    ("a start when created at the finish", {}, "started", None, "wrong_stage"),
])
def test_which_calls_pass(case, options, stage, row, reason):
    p = planned(call(stage, row=row), settings(**options))
    assert (p.reason if p.action == "skip" else None) == reason, case


def test_a_call_created_at_its_start_is_registered_then_finished_by_its_finish():
    s = settings(create_on="start")
    start = planned(call("started", row=None, when=datetime(2025, 11, 20, 12, 1, 5)), s, employee_user_id=5)
    assert list(start.commands) == ["lead", "register", "notify"]
    assert start.commands["register"][1]["SHOW"] == 1
    assert start.commands["register"][1]["CALL_START_DATE"] == "2025-11-20T12:01:05+03:00"
    # The finish: filters are not applied again (a follow-up), only finish and record for the known CALL_ID.
    state = {"call_id": "externalCall.abc.1", "user_id": 5}
    finish = planned(call("finished", state=state), settings(create_on="start", outcomes=["missed"]))
    assert list(finish.commands) == ["finish", "record"]
    assert finish.commands["finish"][1]["CALL_ID"] == "externalCall.abc.1"
    assert finish.commands["finish"][1]["USER_ID"] == 5


def test_each_stage_adds_only_what_the_call_lacks():
    registered = {"call_id": "externalCall.abc.1", "user_id": 5, "finished": True}
    # The record arrives after the finish had attached nothing: the record only.
    record = planned(call("record_ready", state=registered), existing={"lead": 11})
    assert list(record.commands) == ["record"]
    assert record.summary["attached_to"] == {"type": "lead", "id": 11}  # the journal links the call's lead
    # The finish of a call whose record is attached already: nothing left.
    done = planned(call("finished", state={**registered, "record_url": RECORD}), existing={"lead": 11})
    assert (done.action, done.reason, done.summary["existing"]) == ("exists", "already_created", {"lead": 11})
    # A record that came first (no finish seen): registered, finished and recorded in one batch, in order.
    alone = planned(call("record_ready", row=ANSWERED))
    assert list(alone.commands)[1:4] == ["register", "finish", "record"]


def test_a_retry_resumes_with_the_call_id_its_register_recorded():
    p = planned(call(), written={"lead": 11, "register": "externalCall.r.1"})
    assert list(p.commands) == ["finish", "record", "notify"]
    assert p.commands["finish"][1]["CALL_ID"] == "externalCall.r.1"


def test_responsibles_unknown_employee_and_a_refused_user():
    s = settings(default_responsible_id=3)
    p = planned(call(), s, employee_user_id=None)
    assert p.commands["register"][1]["USER_ID"] == 3
    assert "сотрудник UIS 45012 не сопоставлен" in p.summary["responsible_reason"]
    refused = planned(call(), s, employee_user_id=5, written={"user_refused": 5})
    assert refused.commands["register"][1]["USER_ID"] == 3
    assert "5 не найден или неактивен" in refused.summary["responsible_reason"]


def test_entity_choices_and_first_repeat():
    dup = {"CONTACT": [40]}
    activity = planned(call(), settings(entity="activity", notify=False))
    assert list(activity.commands) == ["register", "finish", "record"]
    assert (activity.commands["register"][1]["CRM_CREATE"], activity.commands["register"][1]["CRM_SOURCE"]) == (1, "CALL")
    known = planned(call(), settings(entity="activity"), duplicates=dup, portal_url="https://p.bitrix24.ru")
    assert list(known.commands) == ["register", "finish", "record", "notify"]
    assert (known.commands["register"][1]["CRM_ENTITY_TYPE"], known.commands["register"][1]["CRM_ENTITY_ID"]) == (
        "CONTACT", 40)
    assert known.commands["notify"][1]["MESSAGE"] == (
        "Новый звонок: +79161112233 [URL=https://p.bitrix24.ru/crm/contact/details/40/]CONTACT #40[/URL]")
    deal = planned(call(), settings(lead_deal={"type": "deal", "category_id": 0, "stage_id": None}), duplicates=dup)
    assert deal.commands["register"][1]["CRM_ENTITY_TYPE"] == "CONTACT"
    assert deal.commands["register"][1]["CRM_ENTITY_ID"] == 40
    assert planned(call(), settings(contact_kinds="first"), duplicates=dup).reason == "repeat_contact"
    assert planned(call(), settings(contact_kinds="repeat")).reason == "first_contact"
    attach = planned(call(), settings(repeat_action="attach"), duplicates={"LEAD": [9]},
                     open_entity={"type": "lead", "id": 9, "responsible_id": 8})
    assert list(attach.commands) == ["register", "finish", "record"]
    assert (attach.commands["register"][1]["CRM_ENTITY_ID"], attach.commands["register"][1]["USER_ID"]) == (9, 8)


def test_an_anonymous_call_and_a_call_filtered_at_an_earlier_stage_are_skipped():
    anonymous = call(payload={**note("notification_call_session_finished.json"), "contact_phone_number": None},
                     row={**ANSWERED, "contact_phone_number": None})
    assert planned(anonymous).reason == "no_contact_data"
    assert planned(call("record_ready", state={"not_wanted": "finished"})).reason == "filtered_out"


def test_uis_default_out_call_session_body_is_an_outgoing_start():
    """UIS's default out_call_session body has no direction and no scenario, only the employee."""
    post = {"notification_name": "Исходящий", "virtual_phone_number": "74951234567",
            "notification_time": "2025-11-20 12:01:05",
            "contact_info": {"contact_phone_number": "79161112233", "contact_id": None, "contact_full_name": None},
            "call_session_id": 3100012399,
            "employee_info": {"employee_full_name": "Иванов Иван", "employee_id": 45012,
                              "employee_phone_number": "74950000001"}}
    for body in (post, {k: "" if v is None else str(v) for k, v in flatten_payload(post).items()}):
        parsed = parse_notification(body)
        assert (parsed.stage, parsed.event, parsed.fields["direction"]) == ("started", "out_call_session", "out")
    s = settings(create_on="start")
    p = planned(EventFacts(id=1, kind="call", stage="started", external_id="3100012399",
                           payload=parse_notification(post).fields,
                           occurred_at=datetime(2025, 11, 20, 12, 1, 5, tzinfo=ZONE)), s, employee_user_id=5)
    assert p.commands["register"][1]["TYPE"] == 1


def test_uis_default_get_body_of_call_session_finished_with_its_missing_ampersand():
    query = {"notification_name": "B24", "notification_time": "2025-11-20 12:05:47", "external_id": "",
             "contact_phone_number": "79161112233", "communication_number": "2employee_full_name=Иванов Иван Иванович",
             "employee_id": "45012", "call_source": "va", "call_session_id": "3100012345", "direction": "in",
             "scenario_name": "Входящие", "talk_time_duration": "270", "total_time_duration": "282"}
    parsed = parse_notification(query)
    assert parsed.stage == "finished"
    assert parsed.fields["communication_number"] == 2
    assert parsed.fields["employee_full_name"] == "Иванов Иван Иванович"
    garbage = parse_notification({**query, "communication_number": "два"})
    assert garbage.fields["communication_number"] is None
