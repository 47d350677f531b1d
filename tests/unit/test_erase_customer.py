"""An administrator finds one customer's events by phone or e-mail and erases their personal data."""
from __future__ import annotations

from bx_app.extensions import db
from bx_app.models import Event
from bx_app.models.event import EventStatus
from tests.unit.factories import portal_token, two_accounts


def _event(credential_id, n, phone, email):
    event = Event(credential_id=credential_id, kind="offline_message", stage="arrived", external_id=str(n),
                  dedupe_key=f"offline_message:{n}:arrived", source="push", status=EventStatus.DONE,
                  payload={"visitor_phone_number": phone, "visitor_email": email, "visitor_name": "Анна"},
                  result={"lead_id": n, "plan": {"PHONE": phone}})
    db.session.add(event)
    db.session.commit()
    return event.id


def test_an_administrator_finds_and_erases_one_customers_data(app, client):
    world = two_accounts()
    mine, other = world["mine"], world["other"]
    hers = [_event(mine.id, 1, "79167778899", "anna@example.com"), _event(mine.id, 2, "+7 916 777-88-99", "")]
    someone_else = _event(mine.id, 3, "79990001122", "ivan@example.com")
    foreign = _event(other.id, 4, "79167778899", "anna@example.com")
    token = portal_token(app, mine, admin=True)
    found = client.get(f"/journal/{mine.id}/erase", query_string={"_s": token, "contact": "8 (916) 777-88-99"})
    assert found.status_code == 200 and "Найдено событий: 2" in found.get_data(as_text=True)
    erased = client.post(f"/journal/{mine.id}/erase", data={"_s": token, "contact": "8 (916) 777-88-99",
                                                            "confirm": "1"})
    assert erased.status_code == 200 and 'id="erased"' in erased.get_data(as_text=True)
    db.session.expire_all()
    for event_id in hers:
        event = db.session.get(Event, event_id)
        assert event.payload == {"pruned": True} and event.result == {"lead_id": event.result["lead_id"]}
    assert db.session.get(Event, someone_else).payload["visitor_phone_number"] == "79990001122"
    assert db.session.get(Event, foreign).payload["visitor_phone_number"] == "79167778899"  # another tenant's


def test_search_by_e_mail_and_only_for_administrators(app, client):
    world = two_accounts()
    mine = world["mine"]
    _event(mine.id, 1, "79167778899", "Anna@Example.com")
    admin = portal_token(app, mine, admin=True)
    page = client.get(f"/journal/{mine.id}/erase", query_string={"_s": admin, "contact": "anna@example.com"})
    assert "Найдено событий: 1" in page.get_data(as_text=True)
    user = portal_token(app, mine, admin=False)
    assert client.get(f"/journal/{mine.id}/erase", query_string={"_s": user}).status_code == 403
    assert client.post(f"/journal/{mine.id}/erase", data={"_s": user, "contact": "anna@example.com",
                                                          "confirm": "1"}).status_code == 403
    with client.session_transaction() as session:
        session["uis_account_id"] = world["account"].id
    assert client.get(f"/journal/{world['other'].id}/erase").status_code == 404
    assert client.get(f"/journal/{mine.id}/erase").status_code == 200
