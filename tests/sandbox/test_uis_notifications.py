"""The sandbox UIS sends notifications as UIS renders them: its default templates, or a template an administrator pasted."""
from __future__ import annotations

import json
from urllib.parse import parse_qsl, urlsplit

import pytest

from bx_app.sandbox.uis import notify
from bx_app.uis.notifications import default_template as app_template
from tests.sandbox import uis_fixtures
from tests.sandbox.uis_fixtures import reference

sandbox, web, hook_server = uis_fixtures.sandbox, uis_fixtures.web, uis_fixtures.hook_server

# Reference fixture → (event, which seeded row, the notification's name in the fixture, seconds after the event).
DEFAULT_BODIES = [
    ("notification_offline_message.json", "offline_message", ("offline_messages", 660012345), "B24: офлайн заявка", 0),
    ("notification_chat_finished.json", "chat_finished", ("chats", 880011223), "B24: завершение чата", 0),
    ("notification_lost_chat.json", "lost_chat", ("chats", 880011225), "B24: потерянный чат", 2),
    ("notification_in_call_session.json", "in_call_session", ("calls", 3100012345), "B24: входящий звонок", 0),
    ("notification_call_session_finished.json", "call_session_finished", ("calls", 3100012345),
     "B24: завершение звонка", 0),
    ("notification_lost_call_session.json", "lost_call_session", ("calls", 3100012346), "B24: потерянный звонок", 0),
    ("notification_talk_record_file.json", "talk_record_file", ("calls", 3100012345), "B24: запись разговора", 43),
]


def _row(state, where):
    table, row_id = where
    return next(r for r in getattr(state, table) if r["id"] == row_id)


def _at(event, row, delay):
    when = notify.event_time(event, row)
    return notify._shift(when, delay) if event != "talk_record_file" else notify.event_time(event, row, delay)


@pytest.mark.parametrize(("fixture", "event", "where", "name", "delay"), DEFAULT_BODIES,
                         ids=[case[1] for case in DEFAULT_BODIES])
def test_default_post_body_equals_the_reference_for_the_same_data(sandbox, fixture, event, where, name, delay):
    state = sandbox.extensions["uis_sandbox_state"]
    state.notifications[event]["name"] = name
    row = _row(state, where)
    text = notify.compose(state, event, row, "POST", "default", _at(event, row, delay))
    assert json.loads(text) == reference(fixture)


def test_default_get_query_carries_the_reference_values(sandbox):
    expected = reference("notification_offline_message_get.json")
    state = sandbox.extensions["uis_sandbox_state"]
    state.notifications["offline_message"]["name"] = expected["query"]["notification_name"]
    row = _row(state, ("offline_messages", 660012345))
    query = dict(parse_qsl(notify.compose(state, "offline_message", row, "GET", "default", row["date_time"]),
                           keep_blank_values=True))
    for key, value in expected["query"].items():
        assert query[key] == value, key
    assert query["search_query"] == ""  # missing → empty in a query string


def test_default_get_templates_are_sent_verbatim_slips_included(sandbox):
    state = sandbox.extensions["uis_sandbox_state"]
    row = _row(state, ("calls", 3100012345))
    text = notify.compose(state, "call_session_finished", row, "GET", "default", row["finish_time"])
    # The cabinet's default has no "&" before employee_full_name; UIS sends what the template says.
    assert "communication_number=2employee_full_name=" in text
    assert text.count("contact_phone_number=79161112233") == 2


def test_variable_lists_come_from_the_reference_directory():
    directory = reference("notification_events_and_default_templates.json")["http_request_default_templates"]
    for event in ("offline_message", "chat_finished", "lost_chat"):
        used = set(notify.placeholders(directory[event]["POST"])) | set(notify.placeholders(directory[event]["GET"]))
        assert set(notify.EVENT_VARIABLES[event]) == used
    assert "status" in notify.EVENT_VARIABLES["chat_finished"] and "status" not in notify.EVENT_VARIABLES["lost_chat"]
    assert "file_link" in notify.EVENT_VARIABLES["talk_record_file"]
    assert "direction" not in notify.EVENT_VARIABLES["in_call_session"]


def test_a_variable_the_event_does_not_offer_renders_null(sandbox):
    state = sandbox.extensions["uis_sandbox_state"]
    row = _row(state, ("chats", 880011225))
    body = json.loads(notify.compose(state, "lost_chat", row, "POST", '{"chat_id": {{chat_id}}, "status": {{status}}}'))
    assert body == {"chat_id": 880011225, "status": None}


@pytest.mark.parametrize("event", ["offline_message", "chat_finished", "lost_chat", "call_session_finished"])
@pytest.mark.parametrize("method", ["POST", "GET"])
def test_pasted_app_template_is_rendered_as_pasted(web, hook_server, event, method):
    """The administrator pastes the app's suggested template (the test takes it from the app)."""
    base, received = hook_server
    pasted = app_template(event, method)
    saved = web.post("/control/notifications", json={"hook_url": f"{base}/hooks/uis/t", "event": event,
                                                     "method": method, "template": pasted}).get_json()
    assert saved["events"][event]["template"] == {method: pasted} and saved["hook_url"].endswith("/hooks/uis/t")
    if event == "offline_message":
        web.post("/control/offline_messages", json={"visitor_name": "Ольга", "text": "Счёт"})
    elif event == "call_session_finished":
        web.post("/control/calls", json={"contact_phone_number": "79035556677", "with_record": False,
                                         "events": ["call_session_finished"]})
    else:
        chat = web.post("/control/chats", json={"visitor_name": "Анна", "text": "Есть диван?"}).get_json()["row"]
        if event == "chat_finished":
            web.post(f"/control/chats/{chat['id']}/messages", json={"source": "operator", "text": "Да"})
        web.post(f"/control/chats/{chat['id']}/finish", json={})
    assert len(received) == 1, received
    if method == "GET":
        sent = dict(parse_qsl(urlsplit(received[0]["path"]).query, keep_blank_values=True))
        expected = dict(parse_qsl(pasted, keep_blank_values=True))
    else:
        sent = json.loads(received[0]["body"])
        expected = json.loads(notify.PLACEHOLDER.sub("null", pasted))
    assert sent.keys() == expected.keys()
    assert sent.get("event") == expected.get("event")


def test_chat_bodies_are_realistic(web, hook_server):
    """No "event" key unless the template has one; an administrator may leave "status" out."""
    base, received = hook_server
    web.post("/control/notifications", json={"hook_url": f"{base}/h"})
    lost = web.post("/control/chats", json={"visitor_name": "Анна", "text": "Алло?"}).get_json()["row"]
    web.post(f"/control/chats/{lost['id']}/finish", json={})
    trimmed = '{"chat_id": {{chat_id}}, "visitor_name": {{visitor_name}}, "messages": {{messages}}}'
    web.post("/control/notifications", json={"event": "chat_finished", "template": trimmed})
    done = web.post("/control/chats", json={"status": "active", "messages": [
        {"source": "visitor", "text": "a"}, {"source": "operator", "text": "b"}]}).get_json()["row"]
    web.post(f"/control/chats/{done['id']}/finish", json={})
    default_lost, trimmed_finished = (json.loads(r["body"]) for r in received)
    assert "event" not in default_lost and "status" not in default_lost
    assert default_lost["notification_name"] == "Потеряный чат"
    assert trimmed_finished == {"chat_id": done["id"], "visitor_name": None, "messages": 2}


def test_cabinet_form_saves_hook_and_pasted_template(web, hook_server):
    base, received = hook_server
    form = {"hook_url": f"{base}/hooks/uis/form", "order": "in_order"}
    for event in notify.st.NOTIFIED_EVENTS:
        form.update({f"method_{event}": "POST", f"active_{event}": "on", f"name_{event}": f"Имя {event}",
                     f"choice_{event}": "default"})
    form["choice_offline_message"] = "custom"
    form["template_offline_message"] = app_template("offline_message", "POST")
    assert web.post("/ui/notifications", data=form).status_code == 302
    page = web.get("/").get_data(as_text=True)
    assert f"{base}/hooks/uis/form" in page and "Имя offline_message" in page
    web.post("/control/offline_messages", json={"visitor_name": "Сергей", "text": "x"})
    assert json.loads(received[-1]["body"])["event"] == "offline_message"
    # Bad templates are refused next to nothing being created.
    form["template_offline_message"] = '{"a": {{a}}'
    reply = web.post("/ui/notifications", data=form)
    assert "Настройки не сохранены" in web.get(reply.headers["Location"]).get_data(as_text=True)
    before = len(web.get("/control/state.json").get_json()["offline_messages"])
    bad = web.post("/control/offline_messages", json={"text": "x", "template": "{oops"})
    assert bad.status_code == 400 and "JSON" in bad.get_json()["error"]
    assert len(web.get("/control/state.json").get_json()["offline_messages"]) == before


def test_control_api_rejects_unknown_events_and_methods(web):
    assert web.post("/control/notifications", json={"event": "nope"}).status_code == 400
    assert web.post("/control/notifications", json={"event": "lost_chat", "method": "PUT"}).status_code == 400
    assert web.post("/control/notifications", json={"hook_url": "ftp://x"}).status_code == 400
    listed = web.get("/control/notifications").get_json()
    assert listed["variables"]["lost_chat"] == notify.EVENT_VARIABLES["lost_chat"]
    assert listed["default_templates"]["in_call_session"]["GET"].startswith("notification_name=")
