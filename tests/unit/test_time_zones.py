"""Times with three different zones at once: the UIS account's, the portal user's and the server's.

UIS sends wall-clock times of its account's zone without an offset; they are converted to UTC once, at
intake, and every stored time is an aware UTC instant. Pages show times in the viewer's zone.
"""
from __future__ import annotations

import os
import time
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from bx_app.extensions import db
from bx_app.models import Credential, Event, Portal, UisAccount
from tests.conftest import reference_fixture

ACCOUNT_ZONE = "Asia/Yekaterinburg"  # UTC+5, the UIS account (get.account timezone)
USER_ZONE = "Europe/Kaliningrad"  # UTC+2, the portal user (profile TIME_ZONE)
SERVER_ZONE = "America/New_York"  # the app server's own clock zone, which must never matter


@pytest.fixture(autouse=True)
def server_zone():
    """Run the process in a zone unlike both others (time.localtime, datetime.now() without a zone)."""
    old = os.environ.get("TZ")
    os.environ["TZ"] = SERVER_ZONE
    time.tzset()
    yield
    if old is None:
        os.environ.pop("TZ", None)
    else:
        os.environ["TZ"] = old
    time.tzset()


@pytest.fixture
def credential(app) -> Credential:
    account = UisAccount(app_id=1103425, name="ООО «Пример»", timezone=ACCOUNT_ZONE, data_api_token="t")
    portal = Portal(member_id="e31ab643c44f7a0ec824b59d1194d60d", domain="example.bitrix24.ru",
                    client_endpoint="https://example.bitrix24.ru/rest/", status="installed")
    credential = Credential(name="example", portal=portal, uis_account=account)
    db.session.add_all([account, portal, credential])
    db.session.commit()
    return credential


def uis_wall_clock(moment: datetime) -> str:
    return moment.astimezone(ZoneInfo(ACCOUNT_ZONE)).strftime("%Y-%m-%d %H:%M:%S")


def push_chat_finished(client, credential, occurred: datetime) -> Event:
    body = reference_fixture("uis/notification_chat_finished.json")
    body["notification_time"] = uis_wall_clock(occurred)
    response = client.post(f"/hooks/uis/{credential.hook_token}", json=body)
    assert response.status_code == 200, response.get_data(as_text=True)
    # The answer carries no event id (a global counter); the chat's external id finds the row.
    return Event.query.filter_by(credential_id=credential.id, external_id=str(body["chat_id"])).one()


def test_a_uis_time_is_converted_once_and_happens_before_it_is_received(client, credential):
    occurred = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=2)
    event = push_chat_finished(client, credential, occurred)
    db.session.expire_all()
    event = db.session.get(Event, event.id)
    assert event.occurred_at == occurred and event.occurred_at.tzinfo is not None
    assert event.created_at.tzinfo is not None
    assert timedelta(minutes=1) < event.created_at - event.occurred_at < timedelta(minutes=3)
