"""O3 "repeat → attach to the open lead/deal" against a portal that resolves batches as Bitrix24 does.

On a real portal a batch reference whose key is missing stands for the whole answer (or `[]`), and an
empty `@ID` filter adds no condition: a lookup that depended on such a reference found an unrelated open
lead or deal. The activity must land on the matched contact's own open entity, or on a new one.
"""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import responses

from bx_app.engine import drain
from bx_app.extensions import db
from bx_app.integration.planner import b24_time
from bx_app.models import Credential, Event, Portal, UisAccount
from bx_app.models.account import PortalStatus
from bx_app.models.timeutil import utcnow
from bx_app.settings_store import save_channel
from tests.unit.crm_fake import CrmPortal

DOMAIN = "repeat.bitrix24.ru"
REST = f"https://{DOMAIN}/rest/"
PHONE, EMAIL = "+79161112233", "anna@example.ru"


@pytest.fixture
def portal(app):
    account = UisAccount(app_id=1103425, name="ООО «Пример»", data_api_token="t", timezone="Asia/Yekaterinburg")
    row = Portal(member_id="m-repeat", domain=DOMAIN, client_endpoint=REST, access_token="token",
                 refresh_token="refresh", expires_at=utcnow() + timedelta(hours=1), status=PortalStatus.INSTALLED,
                 installer_user_id=1, crm_mode=1)
    credential = Credential(name="Пример", portal=row, uis_account=account)
    db.session.add_all([account, row, credential])
    db.session.commit()
    save_channel(credential.id, "main", True, {"default_responsible_id": 1})
    save_channel(credential.id, "offline", True, {"contact_kinds": "both", "repeat_action": "attach",
                                                  "entity": "lead_deal", "notify": False})
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        crm = CrmPortal(rsps, REST)
        # Someone else's open lead and open deal, both newer than anything the visitor has.
        other = crm.add("contact", ID=1, NAME="Другой", PHONE=[{"VALUE": "+79990000000"}])
        crm.add("lead", ID=900, TITLE="Чужой лид", STATUS_SEMANTIC_ID="P", ASSIGNED_BY_ID="77",
                PHONE=[{"VALUE": "+79990000000"}], EMAIL=[{"VALUE": "other@example.ru"}])
        crm.add("deal", ID=950, TITLE="Чужая сделка", CLOSED="N", CONTACT_ID=str(other), ASSIGNED_BY_ID="78")
        yield credential, crm


def _request(credential, n: int = 1, **fields) -> int:
    from bx_app import intake

    body = {"visitor_name": "Анна", "visitor_phone_number": PHONE, "visitor_email": EMAIL, "text": "Перезвоните",
            **fields}
    return intake.record_event(credential.id, "offline_message", "arrived", str(5000 + n), body, source="poll",
                               occurred_at=datetime(2026, 11, 29, 14, 30)).event_id


def _activities(crm, owner_type: str, owner_id: int) -> list[dict]:
    code = {"lead": "1", "deal": "2", "contact": "3"}[owner_type]
    return [a for a in crm.tables["activity"].values()
            if str(a["OWNER_TYPE_ID"]) == code and str(a["OWNER_ID"]) == str(owner_id)]


def _seed(crm, case: str) -> dict:
    """The visitor's own CRM history for each case; returns where the activity must land (None: a new lead)."""
    if case == "contact_only":  # O3: the phone matches a contact with no open deal, the e-mail nothing
        crm.add("contact", ID=5, NAME="Анна", PHONE=[{"VALUE": "8 916 111-22-33"}])
        return {"attached": None}
    if case == "contact_with_open_deal":  # O3: the contact's own open deal is the one
        crm.add("contact", ID=5, NAME="Анна", PHONE=[{"VALUE": "8 916 111-22-33"}])
        crm.add("deal", ID=40, TITLE="Сделка Анны", CLOSED="N", CONTACT_ID="5", ASSIGNED_BY_ID="12")
        return {"attached": ("deal", 40, 12)}
    if case == "phone_matches_email_not":  # O3: an open lead with the phone, nothing with the e-mail
        crm.add("lead", ID=30, TITLE="Лид Анны", STATUS_SEMANTIC_ID="P", ASSIGNED_BY_ID="11",
                PHONE=[{"VALUE": "+7 916 111 22 33"}])
        return {"attached": ("lead", 30, 11)}
    if case == "email_matches_closed_lead":  # O3: the only match is a closed lead: nothing open to attach to
        crm.add("lead", ID=31, TITLE="Старый лид", STATUS_SEMANTIC_ID="S", ASSIGNED_BY_ID="11",
                EMAIL=[{"VALUE": EMAIL}])
        return {"attached": None}
    assert case == "nothing_matches"  # a first contact: a new lead
    return {"attached": None}


@pytest.mark.parametrize("case", ["contact_only", "contact_with_open_deal", "phone_matches_email_not",
                                  "email_matches_closed_lead", "nothing_matches"])
def test_O3_repeat_attach_lands_on_the_visitors_own_open_entity_or_a_new_one(app, portal, case):
    credential, crm = portal
    expected = _seed(crm, case)
    event_id = _request(credential)

    statuses = drain.process_group(credential.portal_id, [event_id])

    assert statuses[event_id] == "done"
    event = db.session.get(Event, event_id)
    assert _activities(crm, "lead", 900) == [] and _activities(crm, "deal", 950) == []  # never someone else's
    if expected["attached"] is None:
        assert "attached_to" not in event.result["plan"]
        new = [lead for lead in crm.tables["lead"].values() if lead.get("ORIGIN_ID") == "offline_message:5001"]
        assert len(new) == 1 and event.result["lead_id"] == int(new[0]["ID"])
    else:
        entity, entity_id, responsible = expected["attached"]
        assert event.result["plan"]["attached_to"] == {"type": entity, "id": entity_id, "responsible_id": responsible}
        [activity] = _activities(crm, entity, entity_id)
        assert int(activity["RESPONSIBLE_ID"]) == responsible
        assert not [lead for lead in crm.tables["lead"].values() if lead.get("ORIGIN_ID")]


def test_O3_open_entity_lists_are_sent_only_with_concrete_ids(app, portal):
    credential, crm = portal
    _seed(crm, "contact_only")
    drain.process_group(credential.portal_id, [_request(credential)])
    lists = [params for method, params in crm.sent if method in ("crm.lead.list", "crm.deal.list")
             and ("@ID" in params.get("filter", {}) or "@CONTACT_ID" in params.get("filter", {}))]
    assert lists == [{"filter": {"@CONTACT_ID": ["5"], "CLOSED": "N"}, "select": ["ID", "ASSIGNED_BY_ID"],
                      "order": {"ID": "DESC"}}]


def test_O3_a_group_of_repeats_reads_its_open_entities_in_one_more_batch(app, portal):
    credential, crm = portal
    _seed(crm, "phone_matches_email_not")
    crm.add("contact", ID=6, NAME="Борис", EMAIL=[{"VALUE": "boris@example.ru"}])
    crm.add("deal", ID=41, TITLE="Сделка Бориса", CLOSED="N", CONTACT_ID="6", ASSIGNED_BY_ID="13")
    anna = _request(credential, 1)
    boris = _request(credential, 2, visitor_name="Борис", visitor_phone_number="", visitor_email="boris@example.ru")
    first = _request(credential, 3, visitor_name="Вера", visitor_phone_number="+79035550000",
                     visitor_email="vera@example.ru")
    sent_before = len(crm.sent)
    drain.process_group(credential.portal_id, [anna, boris, first])

    rows = {i: db.session.get(Event, i).result for i in (anna, boris, first)}
    assert rows[anna]["plan"]["attached_to"]["id"] == 30
    assert rows[boris]["plan"]["attached_to"]["id"] == 41
    assert "attached_to" not in rows[first]["plan"]
    open_lists = [p for m, p in crm.sent[sent_before:] if m in ("crm.lead.list", "crm.deal.list")
                  and ({"@ID", "@CONTACT_ID"} & set(p.get("filter", {})))]
    assert len(open_lists) == 2  # Anna's lead and Boris's deal; Vera, a first contact, needs none


def test_activity_start_time_carries_the_uis_accounts_offset(app, portal):
    """A UIS time is local to the UIS account (here Yekaterinburg, UTC+5): Bitrix24 gets it with its offset."""
    credential, crm = portal
    save_channel(credential.id, "offline", True, {"entity": "lead_deal_activity", "notify": False})
    drain.process_group(credential.portal_id, [_request(credential)])
    [activity] = [a for a in crm.tables["activity"].values() if a.get("ORIGIN_ID") == "offline_message:5001"]
    assert activity["START_TIME"] == "2026-11-29T14:30:00+05:00"
    moment = datetime.fromisoformat(activity["START_TIME"])
    assert moment.astimezone(UTC) == datetime(2026, 11, 29, 9, 30, tzinfo=UTC)


def test_b24_time_always_names_an_offset():
    assert b24_time(datetime(2026, 1, 2, 3, 4, 5)) == "2026-01-02T03:04:05+00:00"
    assert b24_time(datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)) == "2026-01-02T03:04:05+00:00"
