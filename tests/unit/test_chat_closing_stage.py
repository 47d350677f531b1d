"""A closed chat is "lost" or "finished" from what UIS's bodies really carry, never from an `event` key.

UIS's default chat_finished / lost_chat templates (tests/fixtures/uis/) carry no event mnemonic, and an
administrator may leave any field out of a template. What decides, in order: the body's `status`, the
notification's name, and when the body says neither, the chat's status in get.chats_report during
enrichment.
"""
from __future__ import annotations

import json
import re

import pytest
import responses

from bx_app.engine.chat_enrichment import enrich_chats
from bx_app.extensions import db
from bx_app.models import Credential, Event, Portal, UisAccount
from bx_app.uis.notifications import STAGE_UNSURE, flatten_payload, parse_notification
from tests.conftest import reference_fixture

FINISHED = "notification_chat_finished.json"  # chat 880011223, status succeed in the chats report
LOST = "notification_lost_chat.json"  # chat 880011225, status lost in the chats report
DATA_API = "https://dataapi.uiscom.ru/v2.0"


def body(name: str, drop: tuple[str, ...] = (), **override) -> dict:
    payload = reference_fixture(f"uis/{name}")
    for key in drop:
        payload.pop(key, None)
    payload.update(override)
    return payload


def default_template_body(event: str, source: str, method: str) -> dict:
    """UIS's own default template for `event` (cabinet directory), rendered with the reference values."""
    template = reference_fixture("uis/notification_events_and_default_templates.json")[
        "http_request_default_templates"][event][method]
    values = flatten_payload(reference_fixture(f"uis/{source}"))
    if method == "POST":
        return json.loads(re.sub(r"{{\s*(\w+)\s*}}",
                                 lambda m: json.dumps(values.get(m.group(1)), ensure_ascii=False), template))
    pairs = [part.split("=", 1) for part in template.split("&")]
    return {key: "" if values.get(m.group(1)) is None else str(values.get(m.group(1)))
            for key, value in pairs if (m := re.fullmatch(r"{{(\w+)}}", value))}


@pytest.mark.parametrize("case, payload, stage, unsure", [
    # The reference bodies as UIS renders its default templates.
    ("default chat_finished", body(FINISHED), "finished", False),
    ("default lost_chat", body(LOST), "lost", True),  # no status: the name guesses, the chat report confirms
    # status alone decides, whatever the name says or lacks.
    ("finished, no name", body(FINISHED, drop=("notification_name",)), "finished", False),
    ("finished, refused", body(FINISHED, drop=("notification_name",), status="refused"), "finished", False),
    ("finished template, status lost", body(FINISHED, drop=("notification_name",), status="lost"), "lost", False),
    ("status wins over the name", body(FINISHED, notification_name="Потерянный чат", status="succeed"),
     "finished", False),
    # No status: the administrator's name for the notification guesses; the chat report confirms later.
    ("finished, no status", body(FINISHED, drop=("status",)), "finished", True),
    ("finished, cabinet name", body(FINISHED, drop=("status",), notification_name="Завершение чата"),
     "finished", True),
    ("lost, cabinet name", body(LOST, notification_name="Потеряный чат"), "lost", True),
    ("lost, English name", body(LOST, notification_name="Lost chat → Bitrix24"), "lost", True),
    # Neither: closed for sure, the outcome comes from the chat report later.
    ("finished, no status, no name", body(FINISHED, drop=("status", "notification_name")), "finished", True),
    ("lost, no name", body(LOST, drop=("notification_name",)), "finished", True),
    ("lost, neutral name", body(LOST, notification_name="Bitrix24"), "finished", True),
    ("lost, empty status", body(LOST, drop=("notification_name",), status=None), "finished", True),
    ("only the chat id", {"chat_id": 880011225}, "finished", True),
])
def test_chat_outcome_without_an_event_key(case, payload, stage, unsure):
    note = parse_notification(payload)
    assert (note.kind, note.stage, note.external_id[:6]) == ("chat", stage, "880011"), case
    assert note.event == ("lost_chat" if stage == "lost" else "chat_finished")
    assert bool(note.fields.get(STAGE_UNSURE)) is unsure, case


@pytest.mark.parametrize("method", ["POST", "GET"])
@pytest.mark.parametrize("event, source, stage", [
    ("chat_finished", FINISHED, "finished"),
    ("lost_chat", LOST, "lost"),
])
def test_uis_default_templates_parse_to_their_event(event, source, stage, method):
    payload = default_template_body(event, source, method)
    assert not {"event", "event_mnemonic", "notification_mnemonic"} & set(payload)
    note = parse_notification(payload)
    assert (note.kind, note.stage) == ("chat", stage)


def test_explicit_event_still_decides_and_is_never_unsure():
    note = parse_notification({"event": "lost_chat", "chat_id": 5, "status": "succeed"})
    assert note.stage == "lost" and STAGE_UNSURE not in note.fields


def test_a_sender_cannot_set_the_unsure_marker():
    note = parse_notification(body(FINISHED) | {STAGE_UNSURE: True})
    assert note.stage == "finished" and STAGE_UNSURE not in note.fields


# --- the chat report decides during enrichment ----------------------------------------------------
@pytest.fixture
def credential(app):
    account = UisAccount(app_id=1103425, name="ООО «Пример»", timezone="Europe/Moscow", data_api_token="tok")
    portal = Portal(member_id="m-chat-stage", domain="example.bitrix24.ru",
                    client_endpoint="https://example.bitrix24.ru/rest/", status="installed")
    credential = Credential(name="example", portal=portal, uis_account=account)
    db.session.add_all([account, portal, credential])
    db.session.commit()
    return credential


@pytest.fixture
def data_api():
    """The Data API answering with the reference reports (chats 880011223 succeed, 880011225 lost)."""
    answers = {"get.chats_report": "get_chats_report_response.json",
               "get.chat_messages_report": "get_chat_messages_report_response.json",
               "get.visitors": "get_visitors_response.json"}
    calls = []

    def answer(request):
        call = json.loads(request.body)
        calls.append(call["method"])
        envelope = reference_fixture(f"uis/{answers[call['method']]}")
        envelope["id"] = call["id"]
        return 200, {"Content-Type": "application/json"}, json.dumps(envelope)

    with responses.RequestsMock() as rsps:
        rsps.add_callback(responses.POST, DATA_API, callback=answer)
        yield calls


def stored(credential, payload) -> Event:
    note = parse_notification(payload)
    event = Event(credential_id=credential.id, kind=note.kind, stage=note.stage, external_id=note.external_id,
                  dedupe_key=f"{note.kind}:{note.external_id}:{note.stage}", payload=note.fields, source="push",
                  occurred_at=note.occurred_at)
    db.session.add(event)
    db.session.commit()
    return event


@pytest.mark.parametrize("source, drop, stage", [
    (LOST, ("notification_name",), "lost"),  # report says lost
    (FINISHED, ("status", "notification_name"), "finished"),  # report says succeed
])
def test_chat_report_status_decides_an_ambiguous_body(credential, data_api, source, drop, stage):
    event = stored(credential, body(source, drop=drop))
    assert event.stage == "finished" and event.payload[STAGE_UNSURE] is True
    assert enrich_chats(credential.id, [event.id]) == []
    db.session.expire_all()
    event = db.session.get(Event, event.id)
    assert event.stage == stage
    assert STAGE_UNSURE not in event.payload
    assert "get.chats_report" in data_api


def test_chat_report_does_not_override_what_the_body_said(credential, data_api):
    # The body's own status says succeed; the report (here: lost) is not asked to overrule it.
    event = stored(credential, body(LOST, drop=("notification_name",), status="succeed"))
    assert event.stage == "finished" and STAGE_UNSURE not in event.payload
    enrich_chats(credential.id, [event.id])
    db.session.expire_all()
    assert db.session.get(Event, event.id).stage == "finished"
