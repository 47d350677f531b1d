"""Chats and offline requests through the engine into the sandbox portal: every option, exactly once."""
from __future__ import annotations

import time

import pytest

from bx_app import intake
from bx_app.models.event import EventStatus


@pytest.mark.parametrize("create_on", ["start", "finish"])
def test_C6_chat_start_then_finish_creates_exactly_once_on_the_configured_stage(world, create_on):
    world.configure("chats", create_on=create_on)
    chat = world.new_chat(visitor_name="Анна", visitor_phone_number="8 (916) 111-22-33")
    started = world.record("chat", "started", chat)
    world.run(started)
    finished = world.record("chat", "finished", world.finish_chat(chat["id"]))
    world.run(finished)
    leads = world.by_origin("leads", f"chat:{chat['id']}")
    assert len(leads) == 1
    assert leads[0]["PHONE"][0]["VALUE"] == "+79161112233"
    creating, other = (started, finished) if create_on == "start" else (finished, started)
    assert world.event(creating).status == EventStatus.DONE and world.event(creating).result["lead_id"]
    assert "Добрый день!" in leads[0]["COMMENTS"]  # C9
    comments = [c for c in world.crm("comments") if c["ENTITY_ID"] == str(leads[0]["ID"])]
    if create_on == "finish":
        assert (world.event(other).status, world.event(other).reason) == (EventStatus.SKIPPED, "wrong_stage")
        assert comments == []
    else:  # the finish adds the whole transcript to the lead created at start, once
        assert world.event(other).status == EventStatus.DONE
        assert str(world.event(other).result["lead_id"]) == str(leads[0]["ID"])
        assert len(comments) == 1 and comments[0]["COMMENT"].endswith(f"[chat:{chat['id']}:transcript]")
        again = world.record("chat", "lost", {"chat_id": chat["id"]}, source="push")
        world.run(again)
        assert world.event(again).reason == "already_created"
        assert len([c for c in world.crm("comments") if c["ENTITY_ID"] == str(leads[0]["ID"])]) == 1


@pytest.mark.parametrize("create_on", ["start", "finish"])
def test_C6_finish_processed_before_start_still_one_outcome(world, create_on):
    world.configure("chats", create_on=create_on)
    chat = world.new_chat(visitor_phone_number="79161112233")
    finished_row = world.finish_chat(chat["id"])
    # The push of the finish arrives and is processed first; polling sees the start later; a lost_chat
    # push for the same chat repeats the finish.
    finished = world.record("chat", "finished", {"chat_id": chat["id"]}, source="push")
    world.run(finished)
    started = world.record("chat", "started", finished_row)
    lost = world.record("chat", "lost", {"chat_id": chat["id"]}, source="push")
    world.run(started, lost)
    world.drain_all()
    leads = world.by_origin("leads", f"chat:{chat['id']}")
    assert len(leads) == 1
    reasons = {world.event(i).reason for i in (finished, started, lost)}
    comments = [c for c in world.crm("comments") if c["ENTITY_ID"] == str(leads[0]["ID"])]
    if create_on == "finish":
        assert "wrong_stage" in reasons and comments == []
    else:  # the finish waited for its start, then added the transcript once ("lost" repeats it: nothing)
        assert {world.event(i).status for i in (finished, started, lost)} == {EventStatus.DONE}
        assert "already_created" in reasons and len(comments) == 1


@pytest.mark.parametrize("allowed, created", [(True, 1), (False, 0)])
def test_C7_chat_without_contact_data(world, allowed, created):
    world.configure("chats", pass_without_contacts=allowed)
    chat = world.new_chat()
    event_id = world.record("chat", "finished", world.finish_chat(chat["id"]))
    world.run(event_id)
    assert len(world.by_origin("leads", f"chat:{chat['id']}")) == created
    if not allowed:
        assert world.event(event_id).reason == "no_contact_data"


def test_C7_visitor_email_from_get_visitors_counts_as_contact(world):
    world.configure("chats", pass_without_contacts=False)
    chat = world.new_chat(visitor_email="olga@example.com")
    world.run(world.record("chat", "finished", world.finish_chat(chat["id"])))
    lead = world.by_origin("leads", f"chat:{chat['id']}")[0]
    assert lead["EMAIL"][0]["VALUE"] == "olga@example.com"


@pytest.mark.parametrize("notify", [True, False])
def test_C8_O6_notification_present_or_absent(world, notify):
    world.configure("offline", notify=notify)
    event_id = world.record("offline_message", "arrived", world.offline())
    before = world.requests
    world.run(event_id)
    assert world.requests - before == 2  # one lookup batch, one write batch
    notes = world.crm("notifications")
    assert len(notes) == (1 if notify else 0)
    if notify:
        lead_id = world.event(event_id).result["lead_id"]
        assert f"/crm/lead/details/{lead_id}/" in notes[0]["MESSAGE"] and notes[0]["USER_ID"] == 1


def test_C4_first_only_skips_a_repeat_contact_and_O3_repeat_attach(world):
    world.configure("offline", contact_kinds="first")
    first = world.record("offline_message", "arrived", world.offline(1))
    world.run(first)
    again = world.record("offline_message", "arrived", world.offline(1))  # same phone
    world.run(again)
    assert world.event(first).status == EventStatus.DONE
    assert (world.event(again).status, world.event(again).reason) == (EventStatus.SKIPPED, "repeat_contact")

    world.configure("offline", contact_kinds="both", repeat_action="attach")
    world.portal.crm.leads[world.event(first).result["lead_id"]]["ASSIGNED_BY_ID"] = "7"
    third = world.record("offline_message", "arrived", world.offline(1))
    world.run(third)
    event = world.event(third)
    assert event.status == EventStatus.DONE and event.result["plan"]["attached_to"]["type"] == "lead"
    assert len(world.crm("leads")) == 1
    activity = world.crm("activities")[0]
    assert (activity["OWNER_TYPE_ID"], activity["RESPONSIBLE_ID"]) == ("1", "7")


def test_simple_mode_makes_contact_and_deal(world):
    world.portal.crm.mode = 2
    event_id = world.record("offline_message", "arrived", world.offline())
    world.run(event_id)
    assert world.crm("leads") == []
    deal = world.crm("deals")[0]
    assert deal["ORIGIN_ID"].startswith("offline_message:") and deal["CONTACT_ID"]
    assert world.event(event_id).result["deal_id"] == int(deal["ID"])


def test_activity_bound_to_new_lead_and_timeline_transcript(world):
    world.configure("chats", entity="lead_deal_activity", transcript_to="timeline")
    chat = world.new_chat(visitor_phone_number="79161112233")
    world.run(world.record("chat", "finished", world.finish_chat(chat["id"])))
    lead = world.crm("leads")[0]
    activity = world.crm("activities")[0]
    comment = world.crm("comments")[0]
    assert activity["OWNER_ID"] == lead["ID"] and activity["ORIGIN_ID"] == f"chat:{chat['id']}"
    assert comment["ENTITY_ID"] == lead["ID"] and "Здравствуйте" in comment["COMMENT"]


def test_required_custom_field_fails_with_portal_message_then_mapping_fixes_it(world):
    world.portal.crm.required_custom["lead"] = {"UF_CRM_1709112233"}
    event_id = world.record("offline_message", "arrived", world.offline())
    world.run(event_id)
    event = world.event(event_id)
    assert event.status == EventStatus.FAILED and event.reason == "bitrix_error"
    assert "required field" in event.last_error
    world.portal.crm.required_custom["lead"] = set()  # made not required on the portal
    intake.retry_events(world.credential_id, [event_id])
    world.drain_all()
    assert world.event(event_id).status == EventStatus.DONE
    assert len(world.crm("leads")) == 1


def test_one_bad_event_fails_alone_in_a_shared_batch(world):
    ids = [world.record("offline_message", "arrived", world.offline(n)) for n in range(5)]
    world.portal.faults.add({"error": "ACCESS_DENIED", "method": "crm.lead.add", "count": 1})  # the first add
    before = world.requests
    world.run(*ids)
    assert world.requests - before == 3  # five events: one lookup batch, one write batch, one for notifications
    statuses = [world.event(i).status for i in ids]
    assert statuses == ["failed", "done", "done", "done", "done"]
    assert "commercial plans" in world.event(ids[0]).last_error
    assert len(world.crm("leads")) == 4 and len(world.crm("notifications")) == 4  # none for the failed one
    assert world.crm("notifications")[0]["TAG"].endswith(world.event(ids[1]).external_id)


def test_burst_coalesces_into_shared_batches(world):
    world.configure("chats", create_on="finish")
    ids = [world.record("offline_message", "arrived", world.offline(n)) for n in range(150)]
    for n in range(50):
        chat = world.new_chat(visitor_phone_number=f"7925{n:07d}")
        ids.append(world.record("chat", "finished", world.finish_chat(chat["id"])))
    for event_id in ids:
        intake.enqueue_event(event_id, world.portal_id)
    before = world.requests
    from bx_app.engine import drain

    drain.drain_portal(world.portal_id, pauses=False)
    world.drain_all()
    made = world.requests - before
    assert all(world.event(i).status == EventStatus.DONE for i in ids)
    assert len(world.crm("leads")) == 200 and len(world.crm("notifications")) == 200
    assert made / len(ids) <= 0.2, made


def test_fault_storm_every_event_done_exactly_once(world):
    ids = [world.record("offline_message", "arrived", world.offline(n)) for n in range(60)]
    world.configure("offline", entity="lead_deal_activity")
    world.portal.faults.random.seed(7)
    for error in ("QUERY_LIMIT_EXCEEDED", "OPERATION_TIME_LIMIT", "INTERNAL_SERVER_ERROR", "expired_token"):
        world.portal.faults.add({"error": error, "probability": 0.08, "count": None})
    for event_id in ids:
        intake.enqueue_event(event_id, world.portal_id)
    from bx_app.engine import drain

    drain.drain_portal(world.portal_id, pauses=False)
    world.drain_all(rounds=60)
    world.portal.faults.clear()
    world.drain_all()
    assert all(world.event(i).status == EventStatus.DONE for i in ids)
    for event_id in ids:
        origin = f"offline_message:{world.event(event_id).external_id}"
        assert len(world.by_origin("leads", origin)) == 1
        assert len(world.by_origin("activities", origin)) == 1
    tags = [n["TAG"] for n in world.crm("notifications")]
    assert len(tags) == len(set(tags)) == 60
    assert world.portal.counters.faults_served > 0


@pytest.mark.parametrize("create_on", ["start", "finish"])
def test_C6_chats_polled_start_then_awaiting_finish(world, create_on):
    from bx_app.models import Event
    from bx_app.polling import poll_credential

    world.configure("chats", create_on=create_on)
    chat = world.new_chat(visitor_phone_number="79161112233")
    counts = poll_credential(world.credential_id)
    assert (counts["chat_started"], counts["chat_finished"]) == (1, 0)
    world.drain_all()
    world.finish_chat(chat["id"])
    counts = poll_credential(world.credential_id)
    assert counts["chat_finished"] == 1
    assert poll_credential(world.credential_id)["chat_finished"] == 0  # nothing is recorded twice
    world.drain_all()
    stages = {e.stage: e.status for e in Event.query.filter_by(kind="chat")}
    assert stages == {"started": "done" if create_on == "start" else "skipped", "finished": "done"}
    lead = world.by_origin("leads", f"chat:{chat['id']}")
    assert len(lead) == 1 and "Здравствуйте" in lead[0]["COMMENTS"]


def test_retries_go_back_through_the_pending_set_in_one_delayed_job(world):
    from rq import Queue
    from rq.registry import ScheduledJobRegistry

    from bx_app.extensions import redis_connection

    ids = [world.record("offline_message", "arrived", world.offline(n)) for n in range(1, 4)]
    world.portal.faults.add({"error": "HTTP_500", "count": 50})
    world.run(*ids)
    assert {world.event(i).reason for i in ids} == {"retry_scheduled"}
    queue = Queue("events", connection=redis_connection())
    jobs = [queue.fetch_job(j) for j in ScheduledJobRegistry(queue=queue).get_job_ids()]
    assert [(j.func_name, j.args) for j in jobs] == [("bx_app.jobs.requeue_events", (world.portal_id, ids))]
    world.portal.faults.clear()
    assert intake.requeue_events(world.portal_id, ids) == 3
    from bx_app.engine import drain

    drain.drain_portal(world.portal_id, pauses=False)
    assert {world.event(i).status for i in ids} == {EventStatus.DONE}


def test_C1_all_channels_without_new_ones_counts_only_channels_of_the_last_sync(world):
    from bx_app.extensions import db
    from bx_app.reference_sync import store

    store(world.credential_id, "uis_channels", [{"id": 3101, "name": "Сайт", "type": "site", "status": "active"}])
    db.session.commit()
    world.configure("chats", channels={"mode": "all", "ids": [], "include_new": False})
    known = world.new_chat(visitor_phone_number="79161110001", channel_id=3101)
    new = world.new_chat(visitor_phone_number="79161110002", channel_id=3102)
    ids = [world.record("chat", "finished", world.finish_chat(c["id"])) for c in (known, new)]
    world.run(*ids)
    assert (world.event(ids[0]).status, world.event(ids[1]).reason) == (EventStatus.DONE, "filtered_out")
    world.configure("chats", channels={"mode": "all", "ids": [], "include_new": True})
    again = world.record("chat", "lost", {"chat_id": new["id"]}, source="push")
    world.run(again)
    assert world.event(again).status == EventStatus.DONE


def test_pushed_offline_requests_of_one_group_read_their_report_rows_in_one_data_api_call(world):
    # A burst of pushes costs the UIS account one point of its per-minute budget, not one per request.
    rows = [world.offline(n, communication_page_url=f"https://shop.example.ru/p/{n}") for n in range(12)]
    before = world.uis.get("/control/state.json").get_json()["counters"].get("get.offline_messages_report", 0)
    ids = [world.record("offline_message", "arrived", {"offline_message_id": row["id"], "visitor_name": row["visitor_name"],
                                                        "visitor_phone_number": row["visitor_phone_number"]},
                        source="push") for row in rows]
    world.run(*ids)
    after = world.uis.get("/control/state.json").get_json()["counters"].get("get.offline_messages_report", 0)
    assert after - before == 1
    assert [world.event(i).payload.get("communication_page_url") for i in ids] == \
        [f"https://shop.example.ru/p/{n}" for n in range(12)]
    assert all(world.event(i).status == EventStatus.DONE for i in ids)


def test_a_spent_data_api_budget_never_holds_the_drain_the_pushed_request_goes_on_as_pushed(world):
    world.uis.post("/control/config", json={"minute_remaining": 0})
    row = world.offline(1)
    event_id = world.record("offline_message", "arrived", {"offline_message_id": row["id"],
                                                           "visitor_phone_number": row["visitor_phone_number"]},
                            source="push")
    started = time.monotonic()
    world.run(event_id)
    assert time.monotonic() - started < 5  # the budget resets in up to a minute: not waited for
    assert world.event(event_id).status == EventStatus.DONE
    assert not world.event(event_id).payload.get("_enriched")
    assert len(world.by_origin("leads", f"offline_message:{row['id']}")) == 1
