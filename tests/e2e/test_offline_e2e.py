"""End to end (I1, I2, O7): the UIS side, and an offline request that becomes exactly one lead."""
from __future__ import annotations

import re
from datetime import datetime, timedelta

import requests

from tests.e2e.conftest import shot
from tests.e2e.portal_steps import (
    app_frame,
    db_rows,
    follow,
    install_and_open,
    kill_worker,
    leads_by_origin,
    sign_in_uis,
    wait_until,
)


def test_I2_marketplace_install_then_claim_then_request_becomes_one_lead(stack, page):
    stack.portal_control({"reset": True})
    frame = install_and_open(stack, page, "offline")
    hook_url = frame.input_value("#hook-url").strip()
    link = stack.claim_link

    # I2: the install window's link leads to the UIS side; sign in, confirm, the credential is ours.
    page.goto(link)
    page.wait_for_selector("#sign-in")
    shot(page, "offline-03-uis-sign-in-for-claim")
    sign_in_uis(page)
    page.wait_for_selector("#claim-confirm")
    shot(page, "offline-04-claim-confirm")
    page.click("#claim-confirm")
    page.wait_for_selector("#credentials-table, #credential")
    shot(page, "offline-05-claimed")
    assert db_rows(stack, "SELECT uis_account_id FROM credential")[0][0] is not None
    # Reusing the claim is refused with a clear page.
    assert page.goto(link).status in (200, 400, 409)

    # Main tab: "Интеграция активна".
    credential_id = db_rows(stack, "SELECT id FROM credential")[0][0]
    page.goto(f"{stack.app_url}/settings/{credential_id}/main")
    page.check("input[name=active]")
    page.click("#save-main")
    page.wait_for_load_state()
    shot(page, "offline-06-main-tab-active")

    # A visitor leaves a request; UIS pushes the notification twice.
    reply = stack.uis_control("/control/offline_messages", {
        "visitor_name": "Сергей Иванов", "visitor_phone_number": "8 (916) 777-88-99",
        "visitor_email": "sergey@example.com", "text": "Перезвоните насчёт дивана «Честер»",
        "site": "shop.example.ru", "form_name": "Обратный звонок", "utm_source": "yandex",
        "notify_url": hook_url, "duplicate": True})
    request_id = reply["row"]["id"]
    assert [d["status"] for d in reply["deliveries"]] == [200, 200]
    origin = f"offline_message:{request_id}"
    lead = wait_until(lambda: (leads_by_origin(stack, origin) or [None])[0], timeout=30,
                      message="the lead in the portal")
    assert lead["NAME"] == "Сергей Иванов"
    assert lead["PHONE"][0]["VALUE"] == "+79167778899"
    assert lead["EMAIL"][0]["VALUE"] == "sergey@example.com"
    assert "Перезвоните насчёт дивана" in lead["COMMENTS"] and "Обратный звонок" in lead["COMMENTS"]
    assert lead["SOURCE_ID"] == "WEBFORM"
    assert str(lead["ASSIGNED_BY_ID"]) == "1"  # the installing administrator until one is chosen

    # The poll sees the same request too: still one lead.
    wait_until(lambda: stack.uis_state()["counters"].get("get.offline_messages_report", 0) >= 2, timeout=30,
               message="two polls of the Data API")
    assert len(leads_by_origin(stack, origin)) == 1
    assert db_rows(stack, "SELECT COUNT(*) FROM event WHERE external_id = ?", str(request_id))[0][0] == 1

    # The journal shows the request's fate with a link to the lead.
    page.goto(f"{stack.portal_url}/?user=1&lang=ru&view=app")
    app = app_frame(page)
    row = f"#journal-table tr:has-text('{request_id}')"
    follow(app, "#tab-journal", row)
    shot(page, "offline-07-journal")
    assert app.query_selector(f"{row} .journal-entities a[href$='/crm/lead/details/{lead['ID']}/']")

    # The event page: UIS's time (sent on the account's wall clock) comes before the app received it.
    follow(app, f"{row} .journal-time a", "#event-incoming")
    details = app.inner_text("#event-incoming")
    shot(page, "offline-08-event")
    moments = re.findall(r"\d{2}\.\d{2}\.\d{4} \d{2}:\d{2}:\d{2}", details)
    occurred, received = (datetime.strptime(m, "%d.%m.%Y %H:%M:%S") for m in moments[:2])
    assert details.index("Произошло в UIS") < details.index("Получено")
    assert timedelta(0) <= received - occurred < timedelta(minutes=5), (occurred, received)
    assert "UTC" not in details


def test_worker_killed_while_processing_still_one_lead(stack, page):
    rows = db_rows(stack, "SELECT hook_token FROM credential")
    assert rows, "runs after the install test in this module"
    hook_url = f"{stack.app_url}/hooks/uis/{rows[0][0]}"
    # A slow portal keeps the worker busy inside the event (waiting for the shared rate limiter).
    stack.portal_control({"bucket": {"rate": 0.3, "capacity": 1, "level": 1}})
    reply = stack.uis_control("/control/offline_messages", {
        "visitor_name": "Ольга", "visitor_phone_number": "79035550011", "text": "Нужен счёт",
        "notify_url": hook_url})
    request_id = str(reply["row"]["id"])
    wait_until(lambda: db_rows(stack, "SELECT status FROM event WHERE external_id = ? AND stage = 'arrived'",
                               request_id) == [("processing",)], timeout=20, message="the event in processing")
    kill_worker(stack)
    stack.portal_control({"bucket": {"rate": 2, "capacity": 50, "level": 0}})
    stack.start_worker()
    origin = f"offline_message:{request_id}"
    wait_until(lambda: db_rows(stack, "SELECT status FROM event WHERE external_id = ? AND stage = 'arrived'",
                               request_id) == [("done",)], timeout=60, message="the event done after restart")
    assert len(leads_by_origin(stack, origin)) == 1


def test_I1_connect_a_portal_from_the_uis_side(stack, page):
    page.goto(f"{stack.app_url}/uis/")
    if page.query_selector("#sign-in"):
        sign_in_uis(page)
    page.wait_for_selector("#connect")
    page.click("#connect")
    page.fill("#name", "Второй портал")
    page.fill("#portal", stack.second_portal_url.split("//")[1])
    shot(page, "connect-01-form")
    page.click("#connect-submit")
    page.wait_for_selector("#oauth-consent")
    shot(page, "connect-02-consent")
    page.click("#oauth-allow")
    page.wait_for_selector("#credentials-table")
    shot(page, "connect-03-connected")
    assert "Второй портал" in page.inner_text("#credentials-table")
    rows = db_rows(stack, "SELECT c.origin, p.status, p.server_endpoint FROM credential c "
                          "JOIN portal p ON p.id = c.portal_id WHERE c.name = ?", "Второй портал")
    # the second sandbox portal is a Russian-region one: its code was exchanged at that region's server only
    assert rows == [("uis", "installed", f"http://127.0.0.1:{stack.ru_oauth_port}/rest/")]
    assert stack.oauth_stats("ru")["token_requests"].get("authorization_code") == 1
    assert "authorization_code" not in stack.oauth_stats("global")["token_requests"]


def test_unknown_hook_token_is_404(stack):
    response = requests.post(f"{stack.app_url}/hooks/uis/nope", json={"offline_message_id": 1}, timeout=10)
    assert response.status_code == 404
