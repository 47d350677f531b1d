"""Times with three different zones at once: the UIS account's, the portal user's and the server's.

UIS sends wall-clock times of its account's zone without an offset; they are converted to UTC once, at
intake, and every stored time is an aware UTC instant. Pages show times in the viewer's zone.
"""
from __future__ import annotations

import os
import re
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


# --- what pages show ---------------------------------------------------------------------------------
ISO_TIME = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}|\d{2}:\d{2}(:\d{2})?[+-]\d{2}:?\d{2}\b")


def shown_text(html: str) -> str:
    """What a reader sees, minus the folded raw data (the payload exactly as UIS sent it)."""
    html = re.sub(r"<pre[^>]*>.*?</pre>", "", html, flags=re.S)
    html = re.sub(r"<(script|style)[^>]*>.*?</\1>", "", html, flags=re.S)
    return re.sub(r"<[^>]+>", " ", html)


def on_clock(moment: datetime, zone: str, seconds: bool = False) -> str:
    return moment.astimezone(ZoneInfo(zone)).strftime("%d.%m.%Y %H:%M:%S" if seconds else "%d.%m.%Y %H:%M")


@pytest.fixture
def journal(client, credential):
    """A chat that finished 2 minutes ago (pushed with UIS's wall clock), and a sync 5 minutes ago."""
    from bx_app.reference_sync import store

    occurred = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=2)
    event = push_chat_finished(client, credential, occurred)
    synced_at = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)
    store(credential.id, "sync_result", {"finished_at": synced_at.isoformat(timespec="seconds"),
                                         "counts": {}, "errors": {}})
    db.session.commit()
    return {"event": db.session.get(Event, event.id), "occurred": occurred, "synced_at": synced_at}


def iframe_token(app, credential, zone: str | None = USER_ZONE) -> str:
    from tests.unit.factories import portal_token

    return portal_token(app, credential, tz=zone)


def test_the_portal_user_sees_times_on_their_own_clock(app, client, credential, journal):
    token = iframe_token(app, credential)
    event = journal["event"]
    html = client.get(f"/journal/{credential.id}/events/{event.id}", query_string={"_s": token}).get_data(as_text=True)
    occurred = on_clock(journal["occurred"], USER_ZONE, seconds=True)
    received = on_clock(event.created_at, USER_ZONE, seconds=True)
    assert occurred in html and received in html
    assert html.index("Произошло в UIS") < html.index(occurred) < html.index("Получено") < html.index(received)
    assert occurred < received  # same day here: the text order is the time order
    listing = client.get(f"/journal/{credential.id}", query_string={"_s": token}).get_data(as_text=True)
    assert on_clock(event.created_at, USER_ZONE) in listing
    main = client.get(f"/settings/{credential.id}/main", query_string={"_s": token}).get_data(as_text=True)
    assert f"{on_clock(journal['synced_at'], USER_ZONE)} (5 минут назад)" in main


def test_a_user_without_a_zone_of_their_own_sees_the_uis_accounts(app, client, credential, journal):
    token = iframe_token(app, credential, zone=None)
    listing = client.get(f"/journal/{credential.id}", query_string={"_s": token}).get_data(as_text=True)
    assert on_clock(journal["event"].created_at, ACCOUNT_ZONE) in listing


def test_the_uis_side_sees_times_on_the_accounts_clock(app, client, credential, journal):
    with client.session_transaction() as session:
        session["uis_account_id"] = credential.uis_account_id
    event = journal["event"]
    html = client.get(f"/journal/{credential.id}/events/{event.id}").get_data(as_text=True)
    assert on_clock(journal["occurred"], ACCOUNT_ZONE, seconds=True) in html


def test_in_english_a_time_reads_as_in_english(client, credential, journal):
    with client.session_transaction() as session:
        session["uis_account_id"] = credential.uis_account_id
    main = client.get(f"/settings/{credential.id}/main", query_string={"lang": "en"}).get_data(as_text=True)
    synced = journal["synced_at"].astimezone(ZoneInfo(ACCOUNT_ZONE))
    assert f"{synced.day} {synced.strftime('%b %Y, %H:%M')} (5 minutes ago)" in main


def test_opening_the_app_keeps_the_users_bitrix24_zone(client, credential):
    import responses

    from tests.unit.portal_fakes import FakeBitrix, iframe_post

    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        bitrix = FakeBitrix(rsps, valid_tokens={"admin-token"}, admin_tokens={"admin-token"})
        bitrix.time_zone = USER_ZONE
        query, form = iframe_post(auth_id="admin-token")
        opened = client.post("/app", query_string=query, data=form)
    token = re.search(r"_s=([^&\"']+)", opened.headers["Location"]).group(1)
    from bx_app.web.app_session import read_token

    assert read_token(client.application, token)["tz"] == USER_ZONE


def test_no_page_shows_an_iso_time_or_utc(app, client, credential, journal):
    from tests.unit.test_settings_channels import resubmit, synced

    synced(credential.id)
    token = iframe_token(app, credential)
    event_id = journal["event"].id
    iframe_pages = ["/app", "/app?check=1", f"/settings/{credential.id}/main", f"/settings/{credential.id}/channels/chats",
                    f"/journal/{credential.id}", f"/journal/{credential.id}/events/{event_id}"]
    seen = {}
    for path in iframe_pages:
        response = client.get(path + ("&" if "?" in path else "?") + f"_s={token}")
        assert response.status_code == 200, path
        seen[f"iframe {path}"] = response.get_data(as_text=True)
    preview = resubmit(client, app, credential, "chats", action="preview")
    seen["preview"] = preview.get_data(as_text=True)
    assert 'id="preview"' in seen["preview"] and "завершение" in seen["preview"]
    with client.session_transaction() as session:
        session["uis_account_id"] = credential.uis_account_id
    for path in ["/uis/credentials", f"/uis/credentials/{credential.id}", f"/settings/{credential.id}/main",
                 f"/journal/{credential.id}", f"/journal/{credential.id}/events/{event_id}"]:
        response = client.get(path)
        assert response.status_code == 200, path
        seen[f"uis {path}"] = response.get_data(as_text=True)
    for name, html in seen.items():
        text = shown_text(html)
        assert not ISO_TIME.search(text), (name, ISO_TIME.search(text).group(0))
        assert not re.search(r"\bUTC\b", text), name
        raw = re.search(r"\b(started|finished|lost|arrived|processed)\b", text)
        assert raw is None, (name, raw and raw.group(0))
