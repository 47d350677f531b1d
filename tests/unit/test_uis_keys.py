"""The stored Data API key (the one the server polls UIS with): kept on a second sign-in unless the user
chooses, re-checked periodically, and a key UIS revoked signs the account out and is shown."""
from __future__ import annotations

import pytest
import responses

from bx_app import jobs
from bx_app.extensions import db
from bx_app.models import UisAccount
from tests.conftest import TEST_CONFIG, reference_fixture

DATA_API = TEST_CONFIG["UIS_DATA_API_URL"]
STORED, SECOND = "stored-key-0001", "second-key-0002"


@pytest.fixture
def rsps():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


@pytest.fixture
def account(app):
    row = UisAccount(app_id=1103425, name="ООО «Пример»", timezone="Europe/Moscow", data_api_token=STORED)
    db.session.add(row)
    db.session.commit()
    return row


def _stored(account_id):
    db.session.expire_all()
    return db.session.get(UisAccount, account_id)


def test_a_second_key_signs_in_but_does_not_replace_the_stored_one(client, rsps, account):
    rsps.post(DATA_API, json=reference_fixture("uis/get_account_response.json"))
    response = client.post("/uis/", data={"token": SECOND})
    assert response.status_code == 302
    assert _stored(account.id).data_api_token == STORED
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "ключом, сохранённым раньше" in page


def test_the_user_may_choose_to_replace_the_stored_key(client, rsps, account):
    rsps.post(DATA_API, json=reference_fixture("uis/get_account_response.json"))
    assert client.post("/uis/", data={"token": SECOND, "replace_key": "y"}).status_code == 302
    assert _stored(account.id).data_api_token == SECOND


def test_the_sign_in_page_offers_the_choice(client):
    html = client.get("/uis/").get_data(as_text=True)
    assert 'name="replace_key"' in html and "заменит ключ, сохранённый раньше" in html


def test_a_dead_stored_key_is_replaced_by_a_working_one(client, rsps, account):
    account.status = "token_invalid"
    db.session.commit()
    rsps.post(DATA_API, json=reference_fixture("uis/get_account_response.json"))
    assert client.post("/uis/", data={"token": SECOND}).status_code == 302
    row = _stored(account.id)
    assert (row.data_api_token, row.status) == (SECOND, "ok")


def test_the_periodic_check_signs_out_an_account_whose_key_was_revoked(app, client, rsps, account):
    assert any(func is jobs.recheck_data_api_keys for func, _queue, _options in jobs.periodic(60))
    with client.session_transaction() as session:
        session["uis_account_id"] = account.id
    assert client.get("/uis/credentials").status_code == 200
    rsps.post(DATA_API, json=reference_fixture("uis/error_access_token_blocked.json"))
    assert jobs.recheck_data_api_keys() == 1
    row = _stored(account.id)
    assert row.status == "token_invalid" and row.status_reason
    response = client.get("/uis/credentials")
    assert response.status_code == 302 and "/uis/" in response.headers["Location"]
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "больше не принимает ключ Data API" in page and "ООО «Пример»" in page
    with client.session_transaction() as session:
        assert "uis_account_id" not in session


def test_the_periodic_check_leaves_a_working_key_and_transport_trouble_alone(app, client, rsps, account):
    rsps.post(DATA_API, json=reference_fixture("uis/get_account_response.json"))
    assert jobs.recheck_data_api_keys() == 0
    assert _stored(account.id).status == "ok"
    rsps.replace(responses.POST, DATA_API, status=503)
    assert jobs.recheck_data_api_keys() == 0
    assert _stored(account.id).status == "ok"
