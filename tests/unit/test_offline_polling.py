"""The pull path for offline requests: cursor, overlap, errors that keep the cursor, the "processed" stage."""
from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
import responses

from bx_app.devkit.wsgi_bridge import mount
from bx_app.extensions import db
from bx_app.models import Credential, Event, PollCursor, Portal, UisAccount
from bx_app.models.timeutil import to_local
from bx_app.polling import OVERLAP, STREAM_OFFLINE, account_now, poll_credential
from bx_app.sandbox.uis import create_uis_app
from bx_app.uis.client import DataApiClient

UIS = "https://dataapi.uiscom.ru"
TOKEN = "sandbox-uis-token"


@pytest.fixture
def uis(app):
    sandbox = create_uis_app()
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        mount(rsps, {UIS: sandbox})
        yield sandbox.test_client()


@pytest.fixture
def credential(app):
    account = UisAccount(app_id=1103425, name="ООО «Пример»", timezone="Europe/Moscow", data_api_token=TOKEN)
    portal = Portal(member_id="e31ab643c44f7a0ec824b59d1194d60d", domain="example.bitrix24.ru",
                    client_endpoint="https://example.bitrix24.ru/rest/", status="installed")
    credential = Credential(name="example", portal=portal, uis_account=account)
    db.session.add_all([account, portal, credential])
    db.session.commit()
    return credential


def new_request(uis, **fields) -> dict:
    body = {"visitor_name": "Сергей", "visitor_phone_number": "79167778899", "text": "Перезвоните", **fields}
    return uis.post("/control/offline_messages", json=body).get_json()["row"]


def events(kind="offline_message"):
    return Event.query.filter_by(kind=kind).order_by(Event.id).all()


def test_new_request_is_pulled_once_and_the_cursor_moves(credential, uis):
    row = new_request(uis, form_name="Обратный звонок", utm_source="yandex")
    first = poll_credential(credential.id)
    assert first["arrived"] == 1
    event = events()[0]
    assert (event.stage, event.external_id, event.source) == ("arrived", str(row["id"]), "poll")
    assert event.payload["form_name"] == "Обратный звонок" and event.payload["utm_source"] == "yandex"
    cursor = PollCursor.query.filter_by(credential_id=credential.id, stream=STREAM_OFFLINE).one()
    assert cursor.cursor_at is not None and cursor.last_error is None
    # The next poll reads the overlap again: nothing new is stored.
    assert poll_credential(credential.id)["arrived"] == 0
    assert len(events()) == 1


def test_late_written_row_inside_the_overlap_is_not_missed(credential, uis):
    poll_credential(credential.id)
    cursor = PollCursor.query.filter_by(credential_id=credential.id, stream=STREAM_OFFLINE).one()
    # The cursor is a UTC instant; the Data API speaks the account's wall clock (Moscow here).
    written_late = (to_local(cursor.cursor_at, ZoneInfo("Europe/Moscow")) - OVERLAP / 2).strftime("%Y-%m-%d %H:%M:%S")
    new_request(uis, date_time=written_late)
    assert poll_credential(credential.id)["arrived"] == 1


@pytest.mark.parametrize("mnemonic,status", [("access_token_invalid", "token_invalid"),
                                             ("ip_not_whitelisted", "ip_denied"),
                                             ("internal_error", "error")])
def test_data_api_error_is_shown_and_the_cursor_stays(credential, uis, mnemonic, status):
    poll_credential(credential.id)
    before = PollCursor.query.filter_by(credential_id=credential.id, stream=STREAM_OFFLINE).one().cursor_at
    new_request(uis)
    uis.post("/control/config", json={"fail_next": {"mnemonic": mnemonic, "count": 10}})
    impatient = DataApiClient(f"{UIS}/v2.0", TOKEN, sleep=lambda seconds: None)
    result = poll_credential(credential.id, client=impatient)
    assert "error" in result
    db.session.expire_all()
    cursor = PollCursor.query.filter_by(credential_id=credential.id, stream=STREAM_OFFLINE).one()
    assert cursor.cursor_at == before and cursor.last_error
    account = db.session.get(UisAccount, credential.uis_account_id)
    assert account.status == status and account.status_reason
    # The API recovers: the same window is read again and the request is not skipped.
    uis.post("/control/config", json={"fail_next": []})
    assert poll_credential(credential.id)["arrived"] == 1
    assert db.session.get(UisAccount, credential.uis_account_id).status == "ok"


def test_O5_a_request_processed_days_later_becomes_a_processed_event(credential, uis):
    row = new_request(uis)
    poll_credential(credential.id)
    assert [e.stage for e in events()] == ["arrived"]
    uis.post(f"/control/offline_messages/{row['id']}/process", json={"employee_id": 45013})
    # Move the cursor far past the arrival: the processed stage is still found (by id, not by window).
    cursor = PollCursor.query.filter_by(credential_id=credential.id, stream=STREAM_OFFLINE).one()
    cursor.cursor_at = account_now("Europe/Moscow") + timedelta(hours=1)
    db.session.commit()
    poll_credential(credential.id)
    assert sorted(e.stage for e in events()) == ["arrived", "processed"]
    processed = Event.query.filter_by(stage="processed").one()
    assert processed.payload["status"] == "processed"


def test_push_then_pull_is_one_event(app, client, credential, uis):
    row = new_request(uis)
    client.post(f"/hooks/uis/{credential.hook_token}", json={"offline_message_id": row["id"],
                                                             "visitor_name": "Сергей"})
    poll_credential(credential.id)
    assert len(events()) == 1
    assert events()[0].source == "push"
