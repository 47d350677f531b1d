"""Customers' personal data: pruned from the journal after PERSONAL_DATA_DAYS, deleted with the portal on
uninstall with "delete data" (at once) or after the grace period."""
from __future__ import annotations

from datetime import timedelta

from bx_app import jobs, personal_data
from bx_app.extensions import db
from bx_app.models import Credential, Event, Portal
from bx_app.models.account import PortalStatus
from bx_app.models.event import EventStatus
from bx_app.models.timeutil import utcnow
from tests.conftest import reference_fixture
from tests.unit.portal_fakes import APP_TOKEN, MEMBER_ID, uninstall_event

PAYLOAD = {"visitor_phone_number": "79167778899", "visitor_email": "anna@example.com", "visitor_name": "Анна",
           "messages": [{"text": "Перезвоните на 79167778899"}]}


def _portal_with_events(days_old: list[int], status=EventStatus.DONE) -> Credential:
    portal = Portal(member_id=MEMBER_ID, domain="example.bitrix24.ru", client_endpoint="https://example.bitrix24.ru/rest/",
                    status=PortalStatus.INSTALLED, application_token=APP_TOKEN)
    credential = Credential(name="example", portal=portal)
    db.session.add_all([portal, credential])
    db.session.flush()
    for n, age in enumerate(days_old):
        db.session.add(Event(credential_id=credential.id, kind="offline_message", stage="arrived", external_id=str(n),
                             dedupe_key=f"offline_message:{n}:arrived", source="push", payload=dict(PAYLOAD),
                             status=status, result={"lead_id": 7, "written": ["crm.lead.add"],
                                                    "plan": {"NAME": "Анна", "PHONE": "79167778899"}},
                             last_error="PHONE 79167778899 refused", created_at=utcnow() - timedelta(days=age)))
    db.session.commit()
    return credential


def test_payloads_older_than_the_retention_are_pruned_and_the_journal_row_stays(app):
    assert app.config["PERSONAL_DATA_DAYS"] == 30
    _portal_with_events([45, 31, 5])
    assert personal_data.prune_old_events(30) == 2
    events = {e.external_id: e for e in Event.query.all()}
    assert len(events) == 3
    for old in ("0", "1"):
        event = events[old]
        assert event.payload == {"pruned": True} and event.last_error is None
        assert event.result == {"lead_id": 7, "written": ["crm.lead.add"]}  # the link to the lead stays
        assert event.status == EventStatus.DONE
        assert "79167778899" not in repr((event.payload, event.result, event.reason))
    assert events["2"].payload == PAYLOAD
    assert personal_data.prune_old_events(30) == 0  # idempotent


def test_events_still_waiting_are_not_pruned(app):
    _portal_with_events([60], status=EventStatus.NEW)
    assert personal_data.prune_old_events(30) == 0
    assert Event.query.one().payload == PAYLOAD


def test_the_retention_is_configurable_and_runs_as_a_periodic_job(app):
    assert any(func is jobs.prune_personal_data for func, _queue, _options in jobs.periodic(60))
    _portal_with_events([10, 3])
    app.config["PERSONAL_DATA_DAYS"] = 7
    assert jobs.prune_personal_data() == {"events": 1, "portals": 0}


def test_uninstall_with_delete_data_removes_the_portals_data_at_once(app, client):
    credential_id = _portal_with_events([1, 2]).id
    assert uninstall_event()["data[CLEAN]"] == "1"
    response = client.post("/b24/events", data=uninstall_event())
    assert response.status_code == 200
    assert Portal.query.count() == 0 and Credential.query.count() == 0 and Event.query.count() == 0
    db.session.expire_all()
    assert db.session.get(Credential, credential_id) is None


def test_uninstall_without_delete_data_keeps_it_for_the_grace_period_then_deletes_it(app, client):
    _portal_with_events([1])
    assert client.post("/b24/events", data=uninstall_event(**{"data[CLEAN]": "0"})).status_code == 200
    portal = Portal.query.one()
    assert portal.status == PortalStatus.UNINSTALLED and Event.query.count() == 1
    assert personal_data.delete_uninstalled_portals(app.config["UNINSTALL_GRACE_DAYS"]) == 0
    portal.uninstalled_at = utcnow() - timedelta(days=app.config["UNINSTALL_GRACE_DAYS"] + 1)
    db.session.commit()
    assert jobs.prune_personal_data()["portals"] == 1
    assert Portal.query.count() == 0 and Event.query.count() == 0


def test_a_portal_reinstalled_after_delete_data_starts_clean(app, client):
    _portal_with_events([1])
    client.post("/b24/events", data=uninstall_event())
    assert reference_fixture("bitrix24/onappuninstall_event.json")  # the reference's own uninstall
    assert Portal.query.filter_by(member_id=MEMBER_ID).one_or_none() is None
