"""Parsing UIS HTTP notifications (JSON, form and query variants) and the templates users paste into UIS."""
from __future__ import annotations

import json
import re
from datetime import datetime
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest

from bx_app.uis.notifications import (
    NotificationInvalid,
    default_template,
    flatten_payload,
    merge_sources,
    parse_notification,
)
from tests.conftest import reference_fixture

CASES = {
    "notification_offline_message.json": ("offline_message", "arrived", "660012345", "offline_message"),
    "notification_chat_finished.json": ("chat", "finished", "880011223", "chat_finished"),
    "notification_lost_chat.json": ("chat", "lost", "880011225", "lost_chat"),
    "notification_call_session_finished.json": ("call", "finished", "3100012345", "call_session_finished"),
    "notification_lost_call_session.json": ("call", "lost", "3100012346", "lost_call_session"),
    "notification_in_call_session.json": ("call", "started", "3100012345", "in_call_session"),
    "notification_talk_record_file.json": ("call", "record_ready", "3100012345", "talk_record_file"),
}


def fixture(name: str) -> dict:
    return reference_fixture(f"uis/{name}")


def as_strings(payload: dict) -> dict:
    """What a form body or a query string delivers: every value a string, null as empty."""
    flat = flatten_payload(payload)
    return {k: "" if v is None else (json.dumps(v) if isinstance(v, list) else str(v)) for k, v in flat.items()}


@pytest.mark.parametrize("name", sorted(CASES))
@pytest.mark.parametrize("variant", ["json", "form", "query", "body_bytes"])
def test_each_fixture_in_each_variant(name, variant):
    kind, stage, external_id, event = CASES[name]
    payload = fixture(name)
    if variant == "form":
        payload = as_strings(payload)
    elif variant == "query":
        payload = dict(parse_qsl(urlencode(as_strings(payload)), keep_blank_values=True))
    elif variant == "body_bytes":
        payload = json.dumps(payload, ensure_ascii=False).encode()
    note = parse_notification(payload)
    assert (note.kind, note.stage, note.external_id, note.event) == (kind, stage, external_id, event)
    assert isinstance(note.occurred_at, datetime)
    assert note.dedupe_key == f"{kind}:{stage}:{external_id}"


@pytest.mark.parametrize("variant", ["json", "form"])
def test_offline_fields_are_normalised(variant):
    payload = fixture("notification_offline_message.json")
    if variant == "form":
        payload = as_strings(payload)
    fields = parse_notification(payload).fields
    assert fields["visitor_name"] == "Сергей"
    assert fields["visitor_phone_number"] == "79167778899"
    assert fields["visitor_email"] == "sergey@example.com"
    assert fields["visitor_message"] == fields["text"] and fields["text"].startswith("Хочу заказать")
    assert fields["site_domain_name"] == "shop.example.ru"
    assert fields["campaign_id"] == 90211 and fields["campaign_name"] == "Яндекс Директ — поиск"
    assert fields["offline_message_id"] == 660012345 and fields["communication_id"] == 1200000201
    assert fields["session_id"] == 77001234
    assert fields["search_query"] is None


def test_chat_fields_flattened_and_lists_parsed():
    note = parse_notification(fixture("notification_chat_finished.json"))
    assert note.fields["visitor_name"] == "Анна" and note.fields["visitor_id"] == 5123456701
    assert note.fields["utm_source"] == "yandex" and note.fields["utm_term"] == "купить диван"
    assert note.fields["tag_ids"] == [501] and note.fields["messages"] == 6 and note.fields["status"] == "succeed"
    form = parse_notification(as_strings(fixture("notification_chat_finished.json")))
    assert form.fields["tag_ids"] == [501]
    assert parse_notification({"chat_id": "5", "status": "succeed", "tag_ids": "501,502"}).fields["tag_ids"] == [501, 502]


def test_get_fixture_query_parses():
    wrapper = fixture("notification_offline_message_get.json")
    query = dict(parse_qsl(urlsplit(wrapper["url"]).query))
    assert query == wrapper["query"]
    note = parse_notification(query)
    assert note.kind == "offline_message" and note.external_id == "660012345"
    assert note.fields["visitor_name"] == "Сергей" and note.fields["visitor_id"] == 5123456704


def test_explicit_event_wins_over_inference():
    note = parse_notification({"event": "lost_chat", "chat_id": 7, "status": "succeed"})
    assert (note.kind, note.stage, note.event) == ("chat", "lost", "lost_chat")
    mnemonic = parse_notification({"notification_mnemonic": "chat_finished", "chat_id": "7"})
    assert (mnemonic.stage, mnemonic.event) == ("finished", "chat_finished")
    assert "event" not in mnemonic.fields


def test_tag_event_kind_from_id():
    note = parse_notification({"event": "set_mark", "chat_id": 880011223, "tag_id": 501})
    assert (note.kind, note.stage) == ("chat", "tag_set")


@pytest.mark.parametrize("payload, reason", [
    ({"notification_name": "x", "visitor_name": "Сергей"}, "unknown event"),
    ({"event": "offline_message", "visitor_name": "Сергей"}, "offline_message_id is missing"),
    ({"offline_message_id": None}, "offline_message_id is missing"),
    ({"offline_message_id": ""}, "offline_message_id is missing"),
    ({"offline_message_id": "abc"}, "offline_message_id is not an integer"),
    ({"chat_id": 12.5}, "chat_id is not an integer"),
    ({"chat_id": True}, "chat_id is not an integer"),
    ({"event": "birthday", "chat_id": 1}, "unknown event"),
    ({"event": "set_mark", "tag_id": 1}, "no offline_message_id"),
    ({}, "empty"),
    ([1, 2], "not an object"),
    (b"{not json", "not JSON"),
])
def test_invalid_payloads_raise_with_reason(payload, reason):
    with pytest.raises(NotificationInvalid) as caught:
        parse_notification(payload)
    assert reason in caught.value.reason


def test_merge_sources_prefers_body_over_query():
    merged = merge_sources({"chat_id": 1}, None, {"chat_id": "2", "event": "lost_chat"})
    assert merged == {"chat_id": 1, "event": "lost_chat"}


def render(template: str, values: dict, method: str) -> str:
    """Render as UIS does: JSON literals for POST, URL-encoded text for GET."""
    def literal(match):
        value = values.get(match.group(1))
        if method == "POST":
            return json.dumps(value, ensure_ascii=False)
        return "" if value is None else urlencode({"": value})[1:]
    return re.sub(r"{{\s*(\w+)\s*}}", literal, template)


@pytest.mark.parametrize("event, source", [
    ("offline_message", "notification_offline_message.json"),
    ("chat_finished", "notification_chat_finished.json"),
    ("lost_chat", "notification_lost_chat.json"),
    ("call_session_finished", "notification_call_session_finished.json"),
])
@pytest.mark.parametrize("method", ["POST", "GET"])
def test_default_templates_render_and_parse_back(event, source, method):
    template = default_template(event, method)
    values = flatten_payload(fixture(source))
    rendered = render(template, values, method)
    if method == "POST":
        assert template.lstrip().startswith("{") and f'"event": "{event}"' in template
        assert '"{{' not in template  # placeholders are unquoted
        payload = json.loads(rendered)
    else:
        assert template.startswith(f"event={event}&")
        payload = dict(parse_qsl(rendered, keep_blank_values=True))
    note = parse_notification(payload)
    assert note.event == event
    expected_id = {"offline_message": "660012345", "chat_finished": "880011223", "lost_chat": "880011225",
                   "call_session_finished": "3100012345"}[event]
    assert note.external_id == expected_id


def test_default_template_refuses_unknown():
    with pytest.raises(ValueError):
        default_template("birthday")
    with pytest.raises(ValueError):
        default_template("offline_message", "PUT")
