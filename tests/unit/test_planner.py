"""The pure planner as tables: one row per option and combination that matters (labels from the seed)."""
from __future__ import annotations

import copy
from datetime import datetime

import pytest

from bx_app.integration import transcript
from bx_app.integration.planner import (
    EventFacts,
    Lookup,
    gate,
    lookup_needs,
    notify_tag,
    plan,
    resume,
    transcript_marker,
)
from bx_app.settings_store import DEFAULTS
from tests.conftest import reference_fixture

CHAT = reference_fixture("uis/get_chats_report_response.json")["result"]["data"][0]  # 880011223, phone
CHAT_NO_CONTACT = reference_fixture("uis/get_chats_report_response.json")["result"]["data"][2]  # 880011225
MESSAGES = reference_fixture("uis/get_chat_messages_report_response.json")["result"]["data"]
VISITORS = {v["id"]: v for v in reference_fixture("uis/get_visitors_response.json")["result"]["data"]}
OFFLINE = reference_fixture("uis/get_offline_messages_report_response.json")["result"]["data"][0]
WHEN = datetime(2025, 11, 20, 14, 5, 12)


def settings(**channel) -> dict:
    s = copy.deepcopy(DEFAULTS)
    s["main"].update(active=True, default_responsible_id=1)
    for name, options in channel.items():
        s[name].update(options)
    return s


def chat_event(stage="finished", chat=CHAT, messages=MESSAGES, visitor=None, payload=None) -> EventFacts:
    chat_messages = [m for m in messages if m["chat_id"] == chat["id"]]
    extra = {"chat": chat, "messages": chat_messages, "visitor": visitor or VISITORS.get(chat.get("visitor_id"))}
    return EventFacts(id=1, kind="chat", stage=stage, external_id=str(chat["id"]),
                      payload=payload if payload is not None else dict(chat), occurred_at=WHEN, extra=extra)


def offline_event(stage="arrived", **changes) -> EventFacts:
    return EventFacts(id=2, kind="offline_message", stage=stage, external_id=str(OFFLINE["id"]),
                      payload={**OFFLINE, **changes}, occurred_at=WHEN)


def methods(p) -> list[str]:
    return [method for method, _ in p.commands.values()]


# --- gates: S3, C1, C6, O5, C7, G1 ---------------------------------------------------------------------
@pytest.mark.parametrize("label, event, options, reason", [
    ("S3_main_off", chat_event(), {"main": {"active": False}}, "main_inactive"),
    ("S3_chats_tab_off", chat_event(), {"chats": {"active": False}}, "channel_inactive"),
    ("C6_finish_skips_start", chat_event("started"), {"chats": {"create_on": "finish"}}, "wrong_stage"),
    ("C6_start_finish_without_start_entity", chat_event("finished"), {"chats": {"create_on": "start"}},
     "start_not_created"),
    ("C6_start_lost_without_start_entity", chat_event("lost"), {"chats": {"create_on": "start"}},
     "start_not_created"),
    ("O5_processed_skips_arrival", offline_event("arrived"), {"offline": {"create_on": "processed"}}, "wrong_stage"),
    ("O5_arrived_skips_processed", offline_event("processed"), {"offline": {"create_on": "arrived"}},
     "wrong_stage"),
    ("C1_channel_not_selected", chat_event(), {"chats": {"channels": {"mode": "selected", "ids": [3104]}}},
     "filtered_out"),
    ("C1_all_without_new_skips_a_channel_unknown_at_sync", chat_event(),
     {"chats": {"channels": {"mode": "all", "include_new": False, "known_ids": [1]}}}, "filtered_out"),
    ("C7_off_without_contacts", chat_event(chat=CHAT_NO_CONTACT), {"chats": {"pass_without_contacts": False}},
     "no_contact_data"),
    ("G1_filter_fails", chat_event(), {"chats": {"filter": {"op": "and", "items": [
        {"field": "site", "operator": "eq", "value": "other.example.ru"}]}}}, "filtered_out"),
    ("calls_not_yet", EventFacts(3, "call", "finished", "31", {}), {}, "channel_inactive"),
    ("unknown_kind", EventFacts(3, "fax", "arrived", "31", {}), {}, "kind_not_supported"),
])
def test_gates(label, event, options, reason):
    s = settings()
    for name, values in options.items():
        s[name].update(values)
    result = plan(event, s, Lookup())
    assert (result.action, result.reason) == ("skip", reason), label
    assert result.commands == {}


@pytest.mark.parametrize("label, event, options", [
    ("C6_start_creates_on_start", chat_event("started"), {"create_on": "start"}),
    ("C6_finish_creates_on_finish", chat_event("finished"), {"create_on": "finish"}),
    ("C6_finish_creates_on_lost", chat_event("lost"), {"create_on": "finish"}),
    ("C1_selected_channel", chat_event(), {"channels": {"mode": "selected", "ids": [3101]}}),
    ("C7_on_without_contacts", chat_event(chat=CHAT_NO_CONTACT), {"pass_without_contacts": True}),
    ("G1_filter_or_passes", chat_event(), {"filter": {"op": "or", "items": [
        {"field": "site", "operator": "eq", "value": "other.example.ru"},
        {"op": "and", "items": [{"field": "channel_id", "operator": "eq", "value": 3101}]}]}}),
])
def test_chat_creates(label, event, options):
    result = plan(event, settings(chats=options), Lookup())
    assert result.action == "create", (label, result.reason, result.summary)
    assert methods(result)[0] == "crm.lead.add"


def test_C7_gate_counts_visitor_data_from_get_visitors():
    chat = {**CHAT_NO_CONTACT, "visitor_id": 42}
    event = chat_event(chat=chat, visitor={"id": 42, "name": "Olga", "phones": [], "emails": ["Olga@Example.COM"]})
    assert gate(event, settings(chats={"pass_without_contacts": False})) is None
    lead = plan(event, settings(), Lookup()).commands["lead"][1]["fields"]
    assert lead["EMAIL"] == [{"VALUE": "Olga@example.com", "VALUE_TYPE": "WORK"}]


# --- C5/O4 entity type, simple mode, C9/O7 content, G5 notification ---------------------------------------
def test_C5_lead_with_transcript_in_comments_and_notification():
    result = plan(chat_event(), settings(), Lookup(portal_url="https://b24.example.ru"))
    assert methods(result) == ["crm.lead.add", "im.notify.system.add"]
    fields = result.commands["lead"][1]["fields"]
    assert fields["ORIGINATOR_ID"] == "uis" and fields["ORIGIN_ID"] == "chat:880011223"
    assert fields["PHONE"] == [{"VALUE": "+79161112233", "VALUE_TYPE": "WORK"}]
    assert fields["ASSIGNED_BY_ID"] == 1 and fields["SOURCE_ID"] == "OTHER"
    assert "Иванов Иван Иванович" in fields["COMMENTS"] and "[14:05:12]" in fields["COMMENTS"]  # C9
    notify = result.commands["notify"][1]
    assert notify["USER_ID"] == 1 and notify["TAG"] == notify_tag("chat:880011223")
    assert "[URL=https://b24.example.ru/crm/lead/details/$result[lead]/]" in notify["MESSAGE"]  # G5 link


def test_C5_deal_type_creates_contact_then_deal():
    result = plan(chat_event(), settings(chats={"lead_deal": {"type": "deal", "category_id": 1,
                                                               "stage_id": "C1:NEW"}}), Lookup())
    assert methods(result) == ["crm.contact.add", "crm.deal.add", "im.notify.system.add"]
    deal = result.commands["deal"][1]["fields"]
    assert deal["CONTACT_ID"] == "$result[contact]" and deal["CATEGORY_ID"] == 1 and deal["STAGE_ID"] == "C1:NEW"
    assert result.commands["contact"][1]["fields"]["ORIGIN_ID"] == "chat:880011223"


def test_simple_mode_lead_deal_means_deal():
    result = plan(offline_event(), settings(), Lookup(crm_mode=2))
    assert methods(result)[:2] == ["crm.contact.add", "crm.deal.add"]
    assert "crm.lead.add" not in methods(result)


def test_C5_activity_only_binds_to_a_new_contact_through_result_reference():
    result = plan(chat_event(), settings(chats={"entity": "activity"}), Lookup())
    assert methods(result) == ["crm.contact.add", "crm.activity.add", "im.notify.system.add"]
    activity = result.commands["activity"][1]["fields"]
    assert (activity["OWNER_TYPE_ID"], activity["OWNER_ID"]) == (3, "$result[contact]")
    assert activity["ORIGIN_ID"] == "chat:880011223" and activity["RESPONSIBLE_ID"] == 1
    assert "Анна" in activity["DESCRIPTION"]


def test_C5_activity_only_for_repeat_contact_binds_to_the_existing_contact():
    s = settings(chats={"entity": "activity"})
    result = plan(chat_event(), s, Lookup(duplicates={"CONTACT": [77]}))
    assert methods(result) == ["crm.activity.add", "im.notify.system.add"]
    assert result.commands["activity"][1]["fields"]["OWNER_ID"] == "77"


def test_O4_lead_and_activity_bound_by_result_reference():
    result = plan(offline_event(), settings(offline={"entity": "lead_deal_activity"}), Lookup())
    assert methods(result) == ["crm.lead.add", "crm.activity.add", "im.notify.system.add"]
    activity = result.commands["activity"][1]["fields"]
    assert (activity["OWNER_TYPE_ID"], activity["OWNER_ID"]) == (1, "$result[lead]")
    assert activity["COMMUNICATIONS"][0]["ENTITY_ID"] == "$result[lead]"


def test_O7_request_content_in_comments():
    fields = plan(offline_event(), settings(), Lookup()).commands["lead"][1]["fields"]
    assert OFFLINE["text"][:20] in fields["COMMENTS"].replace("&quot;", '"')
    assert fields["SOURCE_ID"] == "WEBFORM" and fields["ORIGIN_ID"] == f"offline_message:{OFFLINE['id']}"


def test_C9_transcript_to_timeline():
    result = plan(chat_event(), settings(chats={"transcript_to": "timeline"}), Lookup())
    assert methods(result) == ["crm.lead.add", "crm.timeline.comment.add", "im.notify.system.add"]
    assert "COMMENTS" not in result.commands["lead"][1]["fields"]
    comment = result.commands["comment"][1]["fields"]
    assert comment["ENTITY_ID"] == "$result[lead]" and comment["ENTITY_TYPE"] == "lead"
    assert "\n[14:05:30]" in comment["COMMENT"]


@pytest.mark.parametrize("label, channel, event", [("C8_off", "chats", chat_event()),
                                                   ("O6_off", "offline", offline_event())])
def test_notification_off(label, channel, event):
    result = plan(event, settings(**{channel: {"notify": False}}), Lookup())
    assert "im.notify.system.add" not in methods(result), label


# --- C4/O3 first/repeat, attach ---------------------------------------------------------------------------
@pytest.mark.parametrize("label, kinds, dups, outcome", [
    ("C4_first_only_first", "first", {}, "create"),
    ("C4_first_only_repeat", "first", {"CONTACT": [5]}, "repeat_contact"),
    ("C4_repeat_only_first", "repeat", {}, "first_contact"),
    ("C4_repeat_only_repeat", "repeat", {"LEAD": [9]}, "create"),
    ("C4_both_repeat", "both", {"LEAD": [9]}, "create"),
])
def test_first_or_repeat(label, kinds, dups, outcome):
    result = plan(chat_event(), settings(chats={"contact_kinds": kinds}), Lookup(duplicates=dups))
    assert (result.reason or result.action) == outcome, label


def test_O3_repeat_only_for_offline():
    s = settings(offline={"contact_kinds": "repeat"})
    assert plan(offline_event(), s, Lookup()).reason == "first_contact"
    assert plan(offline_event(), s, Lookup(duplicates={"CONTACT": [3]})).action == "create"


def test_own_entity_of_an_earlier_attempt_is_not_a_repeat():
    s = settings(chats={"contact_kinds": "first", "lead_deal": {"type": "deal"}})
    result = plan(chat_event(), s, Lookup(existing={"contact": 5}, duplicates={"CONTACT": [5]}, written={}))
    assert result.action == "create" and methods(result)[0] == "crm.deal.add"
    assert result.commands["deal"][1]["fields"]["CONTACT_ID"] == "5"


def test_repeat_attach_adds_activity_to_open_deal_and_keeps_its_responsible():
    s = settings(chats={"repeat_action": "attach"})
    result = plan(chat_event(), s, Lookup(duplicates={"CONTACT": [5]},
                                           open_entity={"type": "deal", "id": 31, "responsible_id": 12}))
    assert result.action == "attach"
    assert methods(result) == ["crm.activity.add", "im.notify.system.add"]
    activity = result.commands["activity"][1]["fields"]
    assert (activity["OWNER_TYPE_ID"], activity["OWNER_ID"], activity["RESPONSIBLE_ID"]) == (2, "31", 12)
    assert result.commands["notify"][1]["USER_ID"] == 12


def test_repeat_attach_without_open_entity_creates():
    s = settings(chats={"repeat_action": "attach"})
    assert plan(chat_event(), s, Lookup(duplicates={"CONTACT": [5]})).action == "create"


def test_lookup_needs_reads_duplicates_only_when_they_matter():
    assert not lookup_needs(chat_event(), settings()).duplicates
    assert lookup_needs(chat_event(), settings(chats={"contact_kinds": "first"})).duplicates
    assert lookup_needs(chat_event(), settings(chats={"repeat_action": "attach"})).open_entity
    assert lookup_needs(chat_event(), settings(), crm_mode=2).duplicates
    assert not lookup_needs(chat_event(chat=CHAT_NO_CONTACT), settings(chats={"contact_kinds": "first"})).duplicates
    assert lookup_needs(offline_event(), settings(offline={"entity": "activity"})).activity


# --- C2/C3/O1/O2/G2 responsible ---------------------------------------------------------------------------
RULE = {"name": "Директ", "filter": {"op": "and", "items": [{"field": "campaign", "operator": "contains",
                                                                "value": "Директ"}]},
        "responsible": {"type": "user", "user_id": 5}}


@pytest.mark.parametrize("label, options, lookup, expected", [
    ("C2_rule_matches", {"responsible_rules": [RULE]}, Lookup(), 5),
    ("C2_rule_user_deactivated_falls_to_default", {"responsible_rules": [RULE], "default_responsible_id": 3},
     Lookup(active_user_ids=frozenset({1, 3})), 3),
    ("G2_employee_rule", {"responsible_rules": [{"name": "op", "filter": {"op": "and", "items": []},
                                                 "responsible": {"type": "employee"}}]},
     Lookup(employee_user_id=8), 8),
    ("C2_matched_employee_after_rules", {}, Lookup(employee_user_id=8), 8),
    ("C2_employee_match_off", {"use_employee_match": False}, Lookup(employee_user_id=8), 1),
    ("C3_channel_default", {"default_responsible_id": 4}, Lookup(), 4),
    ("C3_deleted_default_to_installer", {"default_responsible_id": 4},
     Lookup(active_user_ids=frozenset({1}), fallback_responsible_id=1), 1),
])
def test_responsible(label, options, lookup, expected):
    result = plan(chat_event(), settings(chats=options), lookup)
    assert result.commands["lead"][1]["fields"]["ASSIGNED_BY_ID"] == expected, label
    assert result.summary["responsible_reason"]


def test_O1_rule_for_offline_and_reason_names_deactivated_user():
    result = plan(offline_event(), settings(offline={"responsible_rules": [
        {"name": "Все", "filter": {"op": "and", "items": []}, "responsible": {"type": "user", "user_id": 9}}],
        "default_responsible_id": 2}), Lookup(active_user_ids=frozenset({2})))
    assert result.commands["lead"][1]["fields"]["ASSIGNED_BY_ID"] == 2
    assert "9" in result.summary["responsible_reason"]


# --- G3 titles, G4 mapped fields ---------------------------------------------------------------------------
def test_G3_title_templates():
    s = settings(chats={"title_template": {"lead": "Чат {id}: {visitor_name}", "deal": "x",
                                           "activity": "Дело по чату {id}"}, "entity": "lead_deal_activity"})
    result = plan(chat_event(), s, Lookup())
    assert result.commands["lead"][1]["fields"]["TITLE"] == "Чат 880011223: Анна"
    assert result.commands["activity"][1]["fields"]["SUBJECT"] == "Дело по чату 880011223"


def test_G4_mapped_fields_into_lead():
    b24_fields = {"lead": {"UF_CRM_SITE": {"type": "string", "isReadOnly": False, "title": "UF_CRM_SITE"}}}
    s = settings(offline={"field_map": [{"uis_field": "site", "entity": "lead", "b24_field": "UF_CRM_SITE",
                                         "value_map": None}]})
    fields = plan(offline_event(), s, Lookup(b24_fields=b24_fields)).commands["lead"][1]["fields"]
    assert fields["UF_CRM_SITE"] == OFFLINE["site_domain_name"]


# --- exactly once -----------------------------------------------------------------------------------------
def test_existing_entity_by_origin_is_already_created():
    result = plan(chat_event(), settings(), Lookup(existing={"lead": 10}))
    assert (result.action, result.reason) == ("exists", "already_created")


def test_partial_earlier_attempt_resumes_only_missing_parts():
    s = settings(chats={"entity": "lead_deal_activity", "transcript_to": "timeline"})
    result = plan(chat_event(), s, Lookup(existing={"lead": 10}, written={"lead": 10, "comment": 4}))
    assert methods(result) == ["crm.activity.add", "im.notify.system.add"]
    assert result.commands["activity"][1]["fields"]["OWNER_ID"] == "10"
    assert "/lead/details/10/" in result.commands["notify"][1]["MESSAGE"]


def test_resume_substitutes_references():
    commands = {"lead": ("crm.lead.add", {}), "act": ("crm.activity.add", {"fields": {"OWNER_ID": "$result[lead]"}})}
    assert resume(commands, {"lead": 7}) == {"act": ("crm.activity.add", {"fields": {"OWNER_ID": "7"}})}


# --- bad input: empty chat, emoji, 10 000 characters, foreign text, any phone format ----------------------
def test_empty_chat_has_a_note_not_an_error():
    result = plan(chat_event(messages=[]), settings(), Lookup())
    assert "Сообщений нет" in result.commands["lead"][1]["fields"]["COMMENTS"]


def test_long_transcript_is_truncated_with_a_note():
    messages = [{"id": i, "chat_id": CHAT["id"], "date_time": f"2025-11-20 14:{i // 60:02d}:{i % 60:02d}",
                 "source": "visitor", "text": "😀 Größe 尺寸 " + "x" * 10_000} for i in range(12)]
    fields = plan(chat_event(messages=messages), settings(), Lookup()).commands["lead"][1]["fields"]
    assert len(fields["COMMENTS"]) <= transcript.COMMENTS_LIMIT
    assert "сокращена" in fields["COMMENTS"] and "😀 Größe 尺寸" in fields["COMMENTS"]


@pytest.mark.parametrize("raw", ["8 (916) 111-22-33", "+7 916 111 22 33", "79161112233", 79161112233])
def test_phone_in_any_format_is_e164(raw):
    chat = {**CHAT, "visitor_phone_number": raw}
    event = chat_event(chat=chat, visitor={"id": 1, "name": None, "phones": [], "emails": []})
    assert lookup_needs(event, settings()).phone == "+79161112233"


@pytest.mark.parametrize("stage", ["finished", "lost"])
def test_C6_start_then_finish_adds_the_whole_transcript_to_the_start_entity(stage):
    s = settings(chats={"create_on": "start", "notify": True})
    event = chat_event(stage)
    result = plan(event, s, Lookup(start_entity={"type": "lead", "id": 1501}, comments=["a partial transcript"]))
    assert result.action == "attach" and methods(result) == ["crm.timeline.comment.add"]
    fields = result.commands["transcript"][1]["fields"]
    assert (fields["ENTITY_TYPE"], fields["ENTITY_ID"]) == ("lead", 1501)
    assert fields["COMMENT"].endswith(transcript_marker(event))
    assert all(f"{m['text']}" in fields["COMMENT"] for m in MESSAGES if m.get("text"))


@pytest.mark.parametrize("label, lookup", [
    ("marker_in_comments", Lookup(start_entity={"type": "deal", "id": 7}, comments=["x\n[chat:880011223:transcript]"])),
    ("written_by_an_earlier_attempt", Lookup(start_entity={"type": "deal", "id": 7}, written={"transcript": 55})),
])
def test_C6_start_final_transcript_only_once(label, lookup):
    result = plan(chat_event("finished"), settings(chats={"create_on": "start"}), lookup)
    assert (result.action, result.reason) == ("exists", "already_created"), label


@pytest.mark.parametrize("label, channels, passes", [
    ("C1_all_with_new", {"mode": "all", "include_new": True, "known_ids": [1]}, True),
    ("C1_all_without_new_known_channel", {"mode": "all", "include_new": False, "known_ids": [CHAT["chat_channel_id"]]},
     True),
    ("C1_all_without_new_never_synced", {"mode": "all", "include_new": False, "known_ids": None}, True),
])
def test_C1_include_new(label, channels, passes):
    result = plan(chat_event(), settings(chats={"channels": channels}), Lookup())
    assert (result.action != "skip") == passes, label
