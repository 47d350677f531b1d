"""The channel registry is the one description of each channel: every name it uses exists, every reader agrees."""
from __future__ import annotations

import pytest

from bx_app import channels, journal_view, settings_store, uis_accounts
from bx_app.engine import prepare
from bx_app.integration import event_fields, planner, titles
from bx_app.uis import notifications


@pytest.mark.parametrize("channel", channels.CHANNELS, ids=lambda c: c.key)
def test_every_step_a_channel_names_exists(channel):
    if channel.enrichment is not None:
        assert channel.enrichment in prepare.ENRICHMENT
    if channel.plan_builder is not None:
        assert channel.plan_builder in planner.BUILDERS
    assert channel.default_create_on in channel.create_on
    assert set(channel.suggested_notifications) <= set(channel.notifications)
    for lang in ("ru", "en"):
        for word in ("title", "source", "subject", "kind", "entity_title", "activity_title"):
            assert channel.word(lang, word)
        assert titles.validate_template(channel.word(lang, "entity_title")) == []


def test_readers_take_their_channel_facts_from_the_registry():
    assert planner.CHANNEL_OF_KIND == {"offline_message": "offline", "chat": "chats", "call": "calls"}
    assert planner.STAGES["chats"] == {"start": {"started"}, "finish": {"finished", "lost"}}
    assert event_fields.KIND_CHANNEL == planner.CHANNEL_OF_KIND
    assert {k: v for k, v in notifications.EVENTS.items() if v[0] != "call"} == {
        "offline_message": ("offline_message", "arrived"), "chat_finished": ("chat", "finished"),
        "lost_chat": ("chat", "lost"), "unanswered_chats": ("chat", "unanswered")}
    assert {c.kind: c.id_field for c in channels.CHANNELS} == notifications.ID_FIELD
    assert uis_accounts.NOTIFICATION_EVENTS == ("offline_message", "chat_finished", "lost_chat", "in_call_session",
                                                "out_call_session", "call_session_finished", "lost_call_session",
                                                "talk_record_file")
    assert planner.STAGES["calls"] == {"start": {"started"}, "finish": {"finished", "lost"}}
    assert set(journal_view.KIND_WORDS) == set(channels.BY_KIND)
    assert settings_store.DEFAULT_LEAD_SOURCE == {"offline": "WEBFORM", "chats": "OTHER", "calls": "CALL"}
    assert settings_store.DEFAULTS["chats"]["create_on"] == "finish"
    assert settings_store.DEFAULTS["offline"]["title_template"]["activity"] == "Офлайн заявка UIS №{id}"


def test_every_channel_is_processed_and_a_call_start_is_skipped_when_calls_are_created_at_their_finish():
    assert all(c.processed for c in channels.CHANNELS)
    settings = {"main": {"active": True}, "calls": {"active": True, "create_on": "finish"}}
    start = planner.EventFacts(id=1, kind="call", stage="started", external_id="7", payload={})
    assert planner.settings_gate(start, settings).reason == "wrong_stage"
    record = planner.EventFacts(id=2, kind="call", stage="record_ready", external_id="7", payload={})
    assert planner.settings_gate(record, settings) is None  # a follow-up: what the finish made decides
