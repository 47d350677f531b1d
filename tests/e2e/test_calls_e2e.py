"""End to end: a call placed in the sandbox UIS becomes a registered, finished and recorded call in the sandbox
portal's telephony, on one lead, and its fate is in the journal (site isolation on, real processes)."""
from __future__ import annotations

from tests.e2e.conftest import shot
from tests.e2e.portal_steps import app_frame, db_rows, install_claim_activate, leads_by_origin, wait_until


def test_a_call_from_uis_shows_in_the_portals_telephony_with_its_record_and_lead_and_in_the_journal(stack, page):
    ids = install_claim_activate(stack, page, "calls")
    page.goto(f"{stack.app_url}/settings/{ids['credential_id']}/channels/calls")
    page.check("#active")
    shot(page, "calls-01-calls-tab")
    page.click("#save-section")
    page.wait_for_selector("#notice")

    reply = stack.uis_control("/control/calls", {
        "direction": "in", "answered": True, "with_record": True, "talk_duration": 75,
        "contact_phone_number": "79161234567", "contact_full_name": "Анна Смирнова", "notify_url": ids["hook_url"]})
    call_id = reply["row"]["id"]
    assert [d["status"] for d in reply["deliveries"]] == [200, 200, 200]

    def finished_call():
        calls = [c for c in stack.portal_state()["calls"] if c["EXTERNAL_CALL_ID"] == f"uis-{call_id}"]
        return calls[0] if calls and calls[0]["FINISHED"] and calls[0]["RECORD"] else None

    call = wait_until(finished_call, timeout=60, message="the call registered, finished and recorded", page=page)
    assert len([c for c in stack.portal_state()["calls"] if c["EXTERNAL_CALL_ID"] == f"uis-{call_id}"]) == 1
    assert (call["TYPE"], call["PHONE_NUMBER"], call["LINE_NUMBER"]) == (2, "+79161234567", "74951234567")
    assert call["RECORD"]["RECORD_URL"] == reply["row"]["full_record_file_link"]
    lead = leads_by_origin(stack, f"call:{call_id}")
    assert len(lead) == 1 and (call["CRM_ENTITY_TYPE"], call["CRM_ENTITY_ID"]) == ("LEAD", int(lead[0]["ID"]))

    # The call card in the portal, with its record; the lead with the call in its timeline.
    page.goto(f"{stack.portal_url}/telephony/call/{call['CALL_ID']}/?user=1&lang=ru")
    page.wait_for_load_state()
    shot(page, "calls-02-portal-call-card")
    card = page.inner_text("body")
    assert "+79161234567" in card and "75" in card
    assert page.query_selector(f"a[href*='{call_id}'], audio[src*='{call_id}'], source[src*='{call_id}']")
    page.goto(f"{stack.portal_url}/crm/lead/details/{lead[0]['ID']}/?user=1&lang=ru")
    page.wait_for_load_state()
    shot(page, "calls-03-portal-lead")
    assert "Звонок +79161234567" in page.inner_text("body")

    # The journal in the app: the call's stages, the finished one done with a link to the lead.
    wait_until(lambda: db_rows(stack, "SELECT COUNT(*) FROM event WHERE kind = 'call' AND external_id = ? AND "
                                      "status IN ('done', 'skipped')", str(call_id))[0][0] == 3,
               timeout=30, message="the three stages journaled")
    page.goto(f"{stack.portal_url}/?user=1&lang=ru&view=app")
    app = app_frame(page)
    with app.expect_navigation():
        app.click("#tab-journal")
    app.wait_for_selector(f"#journal-table tr:has-text('{call_id}')")
    shot(page, "calls-04-journal")
    rows = [r.inner_text() for r in app.query_selector_all(f"#journal-table tbody tr:has-text('{call_id}')")]
    assert len(rows) == 3 and all("Звонок" in r and "79161234567" in r for r in rows), rows
    assert app.query_selector(f"#journal-table .journal-entities a[href$='/crm/lead/details/{lead[0]['ID']}/']")
