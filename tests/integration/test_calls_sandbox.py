"""Calls from the sandbox UIS (its notifications to the app's hook, its calls report) into the sandbox portal's
telephony and CRM: registered, finished and recorded once, in order, as the "Звонки" tab says."""
from __future__ import annotations

import random

import pytest

from bx_app import intake
from bx_app.engine import drain
from bx_app.models import Event
from bx_app.models.event import EventStatus


def call_events(world, call_id) -> dict:
    Event.query.session.expire_all()
    return {e.stage: e for e in Event.query.filter_by(kind="call", external_id=str(call_id))}


def the_call(world, call_id) -> dict:
    calls = [c for c in world.calls() if c["EXTERNAL_CALL_ID"] == f"uis-{call_id}"]
    assert len(calls) == 1, calls
    return calls[0]


def statistics(world, call_id) -> list[dict]:
    return [r for r in world.portal.telephony.statistics.values() if r["EXTERNAL_CALL_ID"] == f"uis-{call_id}"]


def test_incoming_answered_call_with_record_is_one_registered_finished_recorded_call_on_one_lead(world):
    world.configure("calls", active=True)
    placed = world.place_call(direction="in", answered=True, with_record=True, talk_duration=95)
    call_id = placed["row"]["id"]
    assert {d["event"] for d in placed["deliveries"]} == {"in_call_session", "call_session_finished",
                                                          "talk_record_file"}
    world.drain_all()
    events = call_events(world, call_id)
    assert (events["started"].status, events["started"].reason) == (EventStatus.SKIPPED, "wrong_stage")
    assert events["finished"].status == EventStatus.DONE and events["record_ready"].status == EventStatus.DONE
    call = the_call(world, call_id)
    assert (call["TYPE"], call["PHONE_NUMBER"], call["LINE_NUMBER"], call["FINISHED"]) == (
        2, "+79161112233", "74951234567", True)
    assert call["CALL_START_DATE"].endswith("+03:00")
    row = statistics(world, call_id)
    assert len(row) == 1 and (row[0]["CALL_DURATION"], row[0]["CALL_FAILED_CODE"]) == (95, "200")
    assert row[0]["RECORD_URL"] == placed["row"]["full_record_file_link"]
    lead = world.by_origin("leads", f"call:{call_id}")
    assert len(lead) == 1 and (call["CRM_ENTITY_TYPE"], call["CRM_ENTITY_ID"]) == ("LEAD", int(lead[0]["ID"]))
    assert world.event(events["record_ready"].id).result["lead_id"] == int(lead[0]["ID"])  # linked in the journal
    activity = world.portal.crm.activities[row[0]["CRM_ACTIVITY_ID"]]
    assert activity["PROVIDER_ID"] == "VOXIMPLANT_CALL" and activity["RECORD_URL"] == row[0]["RECORD_URL"]


def test_incoming_missed_call_is_finished_304_once_though_lost_and_finished_both_arrive(world):
    world.configure("calls", active=True)
    placed = world.place_call(direction="in", answered=False)
    call_id = placed["row"]["id"]
    world.drain_all()
    events = call_events(world, call_id)
    assert {s: e.status for s, e in events.items()} == {"started": "skipped", "lost": "done", "finished": "done"}
    assert "already_created" in {events["lost"].reason, events["finished"].reason}
    call = the_call(world, call_id)
    row = statistics(world, call_id)
    assert len(row) == 1 and (row[0]["CALL_DURATION"], row[0]["CALL_FAILED_CODE"], row[0]["RECORD_URL"]) == (
        0, "304", None)
    assert call["FINISHED"] and len(world.by_origin("leads", f"call:{call_id}")) == 1


def test_outgoing_call_in_uis_default_templates_is_type_1_with_the_callers_user(world):
    from bx_app.reference_sync import set_employee_link, sync_credential

    result = sync_credential(world.credential_id)
    assert result["errors"] == {} and result["counts"]["lines_added"] >= 1
    assert "74951234567" in {line["NUMBER"] for line in world.portal.telephony.as_json()["external_lines"]}
    assert sync_credential(world.credential_id)["counts"]["lines_added"] == 0  # kept in sync, not doubled
    set_employee_link(world.credential_id, 45012, 1)
    world.configure("calls", active=True, create_on="start")
    placed = world.place_call(direction="out", answered=True, with_record=False, employee_id=45012)
    call_id = placed["row"]["id"]
    world.drain_all()
    events = call_events(world, call_id)
    assert events["started"].status == EventStatus.DONE and events["started"].payload.get("direction") == "out"
    call = the_call(world, call_id)
    assert (call["TYPE"], call["USER_ID"], call["FINISHED"]) == (1, 1, True)
    assert events["finished"].result["plan"]["parts"] == ["finish"]
    assert statistics(world, call_id)[0]["INCOMING"] == "1"


def test_first_and_repeat_calls(world):
    world.configure("calls", active=True, contact_kinds="first")
    first = world.place_call(contact_phone_number="79031234567", with_record=False)["row"]["id"]
    world.drain_all()
    second = world.place_call(contact_phone_number="79031234567", with_record=False)["row"]["id"]
    world.drain_all()
    assert call_events(world, first)["finished"].status == EventStatus.DONE
    assert call_events(world, second)["finished"].reason == "repeat_contact"
    world.configure("calls", contact_kinds="repeat")
    third = world.place_call(contact_phone_number="79031234567", with_record=False)["row"]["id"]
    other = world.place_call(contact_phone_number="79037654321", with_record=False)["row"]["id"]
    world.drain_all()
    assert call_events(world, third)["finished"].status == EventStatus.DONE
    assert call_events(world, other)["finished"].reason == "first_contact"
    assert [c["EXTERNAL_CALL_ID"] for c in world.calls()] == [f"uis-{first}", f"uis-{third}"]


@pytest.mark.parametrize("order", ["reversed", "shuffled"])
def test_events_of_one_call_in_any_order_give_one_call_finished_and_recorded_once(world, order):
    world.configure("calls", active=True, create_on="start")
    placed = world.place_call(answered=True, with_record=True, order=order, seed=3)
    call_id = placed["row"]["id"]
    world.drain_all()
    assert {e.status for e in call_events(world, call_id).values()} == {EventStatus.DONE}
    call = the_call(world, call_id)
    assert call["FINISHED"] and call["RECORD"]["RECORD_URL"] == placed["row"]["full_record_file_link"]
    assert len(statistics(world, call_id)) == 1 and len(world.by_origin("leads", f"call:{call_id}")) == 1


def test_a_call_seen_only_as_call_session_finished_is_registered_and_finished_once(world):
    world.configure("calls", active=True, create_on="start")
    placed = world.place_call(answered=True, with_record=False, events=["call_session_finished"])
    world.drain_all()
    call_id = placed["row"]["id"]
    assert list(call_events(world, call_id)) == ["finished"]
    assert the_call(world, call_id)["FINISHED"] and len(statistics(world, call_id)) == 1


def test_unknown_employee_goes_to_the_default_responsible_with_the_reason(world):
    world.configure("calls", active=True, default_responsible_id=1)
    call_id = world.place_call(with_record=False)["row"]["id"]
    world.drain_all()
    finished = call_events(world, call_id)["finished"]
    assert the_call(world, call_id)["USER_ID"] == 1
    assert "не сопоставлен" in finished.result["plan"]["responsible_reason"]


def test_a_user_bitrix24_refuses_is_replaced_by_the_default_responsible_once(world):
    world.portal.users[7] = {**world.portal.users[1], "ID": 7, "ACTIVE": False}
    world.configure("calls", active=True, default_responsible_id=7)
    save_main = {"default_responsible_id": 1}
    from bx_app.settings_store import save_channel

    save_channel(world.credential_id, "main", True, save_main)
    call_id = world.place_call(with_record=False)["row"]["id"]
    world.drain_all()
    finished = call_events(world, call_id)["finished"]
    assert finished.status == EventStatus.DONE
    assert the_call(world, call_id)["USER_ID"] == 1
    assert "7 не найден или неактивен" in finished.result["plan"]["responsible_reason"]


def test_a_record_that_cannot_be_attached_leaves_the_call_finished_and_is_retried(world):
    world.configure("calls", active=True)
    world.portal.faults.add({"error": "ACCESS_DENIED", "method": "telephony.externalcall.attachrecord", "count": 1})
    placed = world.place_call(answered=True, with_record=True, events=["call_session_finished", "talk_record_file"])
    call_id = placed["row"]["id"]
    events = call_events(world, call_id)
    world.run(events["finished"].id)
    finished = world.event(events["finished"].id)
    assert the_call(world, call_id)["FINISHED"]
    assert finished.status == EventStatus.NEW and finished.reason == "retry_scheduled"
    assert finished.last_error.startswith("record:")
    world.drain_all()
    assert world.event(events["finished"].id).status == EventStatus.DONE
    assert the_call(world, call_id)["RECORD"]["RECORD_URL"] == placed["row"]["full_record_file_link"]
    assert len(statistics(world, call_id)) == 1


def test_fault_storm_no_call_lost_none_duplicated(world):
    world.configure("calls", active=True, create_on="start")
    rnd = random.Random(11)
    placed = [world.place_call(direction=rnd.choice(["in", "out"]), answered=rnd.random() < 0.7,
                               contact_phone_number=f"7926{n:07d}", order=rnd.choice(["in_order", "reversed"]),
                               employee_id=45012)["row"] for n in range(25)]
    world.portal.faults.random.seed(5)
    for error in ("QUERY_LIMIT_EXCEEDED", "OPERATION_TIME_LIMIT", "INTERNAL_SERVER_ERROR", "expired_token"):
        world.portal.faults.add({"error": error, "probability": 0.08, "count": None})
    for event in Event.query.filter_by(kind="call"):
        intake.enqueue_event(event.id, world.portal_id)
    drain.drain_portal(world.portal_id, pauses=False)
    world.drain_all(rounds=60)
    world.portal.faults.clear()
    world.drain_all()
    assert {e.status for e in Event.query.filter_by(kind="call")} <= {EventStatus.DONE, EventStatus.SKIPPED}
    for row in placed:
        call = the_call(world, row["id"])  # exactly one each
        assert call["FINISHED"]
        assert len(statistics(world, row["id"])) == 1
        assert len(world.by_origin("leads", f"call:{row['id']}")) == 1
        if row["full_record_file_link"]:
            assert call["RECORD"]["RECORD_URL"] == row["full_record_file_link"]
    assert world.portal.counters.faults_served > 0


def test_calls_report_catches_up_a_call_no_push_brought_and_never_twice(world):
    from bx_app.polling import poll_credential

    assert "call_finished" not in poll_credential(world.credential_id)  # the tab is off: no calls report read
    world.configure("calls", active=True)
    placed = world.place_call(answered=True, with_record=True, events=[])  # UIS sent nothing
    call_id = placed["row"]["id"]
    counts = poll_credential(world.credential_id)
    assert (counts["call_finished"], counts["call_record"]) == (1, 1)
    again = poll_credential(world.credential_id)
    assert (again["call_finished"], again["call_record"]) == (0, 0)
    world.drain_all()
    assert {e.status for e in call_events(world, call_id).values()} == {EventStatus.DONE}
    call = the_call(world, call_id)
    assert call["FINISHED"] and call["RECORD"]["RECORD_URL"] == placed["row"]["full_record_file_link"]
    assert len(statistics(world, call_id)) == 1


def test_activity_only_the_telephony_call_on_the_known_contact_or_a_lead_telephony_makes(world):
    world.configure("calls", active=True, entity="activity")
    first = world.place_call(contact_phone_number="79035550101", with_record=False)["row"]["id"]
    world.drain_all()
    call = the_call(world, first)
    assert call["CRM_CREATED_LEAD"] and call["CRM_ENTITY_TYPE"] == "LEAD"  # an unknown number: the telephony's lead
    assert world.by_origin("leads", f"call:{first}") == []  # the app made no lead of its own
    assert [n["MESSAGE"] for n in world.crm("notifications")] == ["Новый звонок: +79035550101"]
    second = world.place_call(contact_phone_number="79035550101", with_record=False)["row"]["id"]
    world.drain_all()
    again = the_call(world, second)
    assert (again["CRM_ENTITY_TYPE"], again["CRM_ENTITY_ID"], again["CRM_CREATED_LEAD"]) == (
        "LEAD", call["CRM_ENTITY_ID"], None)  # the known person's lead, no second one
    assert len(world.crm("leads")) == 1
