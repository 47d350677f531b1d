"""Portal users who are not administrators see customers' phones and e-mails masked in the journal."""
from __future__ import annotations

import pytest

from bx_app.extensions import db
from bx_app.journal_view import mask_contacts, masked
from bx_app.models import Event
from bx_app.models.event import EventStatus
from tests.unit.factories import portal_token, two_accounts

PHONE, EMAIL = "79167778899", "anna.petrova@example.com"


@pytest.fixture
def event_world(app):
    world = two_accounts()
    event = Event(credential_id=world["mine"].id, kind="offline_message", stage="arrived", external_id="660012345",
                  dedupe_key="offline_message:660012345:arrived", source="push", status=EventStatus.DONE,
                  payload={"offline_message_id": 660012345, "visitor_name": "Анна", "visitor_phone_number": PHONE,
                           "visitor_email": EMAIL, "visitor_message": "Перезвоните на +7 (916) 777-88-99"},
                  result={"lead_id": 7, "plan": {"PHONE": PHONE, "EMAIL": EMAIL}})
    db.session.add(event)
    db.session.commit()
    return world, event


def _pages(client, world, event, query=None, **session):
    mine = world["mine"]
    return [client.get(f"/journal/{mine.id}", query_string=query).get_data(as_text=True),
            client.get(f"/journal/{mine.id}/events/{event.id}", query_string=query).get_data(as_text=True)]


def test_a_portal_user_who_is_not_an_administrator_sees_contacts_masked(app, client, event_world):
    world, event = event_world
    token = portal_token(app, world["mine"], admin=False)
    for html in _pages(client, world, event, {"_s": token}):
        assert PHONE not in html and EMAIL not in html and "777-88-99" not in html
        assert "79*****99" in html and "a***@example.com" in html
        assert "Анна" in html  # names stay: only phones and e-mails are masked


def test_an_administrator_and_the_uis_side_see_contacts(app, client, event_world):
    world, event = event_world
    token = portal_token(app, world["mine"], admin=True)
    for html in _pages(client, world, event, {"_s": token}):
        assert PHONE in html and EMAIL in html
    with client.session_transaction() as session:
        session["uis_account_id"] = world["account"].id
    for html in _pages(client, world, event):
        assert PHONE in html and EMAIL in html


@pytest.mark.parametrize(("text", "expected"), [
    ("звоните +7 (916) 777-88-99", "звоните 79*****99"),
    ("8 916 777 88 99", "89*****99"),
    ("пишите anna@example.com", "пишите a***@example.com"),
    ("заявка 660012345 от 2026-11-29 12:00", "заявка 660012345 от 2026-11-29 12:00"),
])
def test_contacts_in_free_text_are_masked_and_other_numbers_are_not(text, expected):
    assert mask_contacts(text) == expected


def test_structured_values_are_masked_by_their_keys():
    assert masked({"PHONE": [{"VALUE": PHONE}], "contact_phone_number": 79167778899, "visitor_email": EMAIL}) == {
        "PHONE": [{"VALUE": "79*****99"}], "contact_phone_number": "79*****99", "visitor_email": "a***@example.com"}
