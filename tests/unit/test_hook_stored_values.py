"""Push intake, values the database cannot store (PostgreSQL refuses NUL in text): a 4xx, never a 500.

Run on both databases (`--db postgresql`); SQLite would store most of these silently.
"""
from __future__ import annotations

import json

import pytest

from bx_app.extensions import db
from bx_app.models import Event
from bx_app.models.event import EventStatus
from tests.conftest import reference_fixture
from tests.unit.factories import example_credential


@pytest.fixture
def credential(app):
    return example_credential()


def _notification(**changes) -> dict:
    return dict(reference_fixture("uis/notification_offline_message.json"), **changes)


@pytest.mark.parametrize("body", [
    json.dumps(_notification(visitor_name="Сер\u0000гей")).encode(),
    json.dumps(_notification(visitor_name="Сергей")).replace('"visitor_name"', '"visitor\\u0000name"').encode(),
    b'{"offline_message_id": 660012345, "visitor_name": "\x00"}',
], ids=["escaped-in-value", "escaped-in-key", "raw-byte"])
def test_a_nul_character_is_refused_with_a_reason_and_journaled(client, credential, body):
    response = client.post(f"/hooks/uis/{credential.hook_token}", data=body, content_type="application/json")
    assert response.status_code == 400
    assert "NUL" in response.get_json()["reason"] or "control character" in response.get_json()["reason"]
    rows = Event.query.all()
    assert len(rows) == 1 and rows[0].status == EventStatus.SKIPPED and rows[0].reason.startswith("rejected")


def test_a_nul_character_in_a_form_or_query_is_refused(client, credential):
    form = client.post(f"/hooks/uis/{credential.hook_token}", data={"offline_message_id": "1", "visitor_name": "a\x00"})
    query = client.get(f"/hooks/uis/{credential.hook_token}?offline_message_id=2&visitor_name=%00")
    assert (form.status_code, query.status_code) == (400, 400)
    assert Event.query.filter(Event.kind == "offline_message").count() == 0


def test_a_nul_character_in_the_hook_token_is_an_unknown_token(client, credential):
    assert client.post("/hooks/uis/abc%00def", json=_notification()).status_code == 404
    assert client.post(f"/hooks/uis/{'x' * 300}", json=_notification()).status_code == 404


def test_an_identifier_longer_than_any_uis_id_is_refused(client, credential):
    response = client.post(f"/hooks/uis/{credential.hook_token}", json=_notification(offline_message_id=int("9" * 80)))
    assert response.status_code == 400
    assert Event.query.filter(Event.kind == "offline_message").count() == 0


def test_the_same_push_twice_at_once_is_stored_once_on_either_database(app, client, credential):
    first = client.post(f"/hooks/uis/{credential.hook_token}", json=_notification())
    second = client.post(f"/hooks/uis/{credential.hook_token}", json=_notification(search_query="диван честер"))
    assert (first.status_code, second.status_code) == (200, 200)
    assert second.get_json()["duplicate"] is True
    event = Event.query.one()
    assert event.payload["search_query"] == "диван честер"  # the repeat's new field is merged


def test_a_database_that_dies_mid_request_gets_a_retryable_503_even_when_the_rollback_fails_too(
        app, client, monkeypatch):
    """PostgreSQL restarting: the statement fails, and so does the rollback on the dead connection."""
    from sqlalchemy.exc import OperationalError

    from bx_app.web import hooks

    def dead(*args, **kwargs):
        raise OperationalError("SELECT 1", {}, Exception("server closed the connection unexpectedly"))

    monkeypatch.setattr(hooks, "_credential_for", dead)
    monkeypatch.setattr(db.session, "rollback", dead)
    response = client.post("/hooks/uis/any-token", json={"offline_message_id": 1})
    assert response.status_code == 503
    assert response.headers["Retry-After"]
