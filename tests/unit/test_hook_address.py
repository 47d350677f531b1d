"""The hook address is a secret: portal administrators and the UIS side see it, and can change it after a leak."""
from __future__ import annotations

from bx_app.extensions import db
from bx_app.models import Credential, Event
from tests.conftest import reference_fixture
from tests.unit.factories import portal_token, two_accounts


def _push(client, token):
    return client.post(f"/hooks/uis/{token}", json=reference_fixture("uis/notification_offline_message.json"))


def test_a_portal_administrator_sees_and_copies_the_hook_address(app, client):
    mine = two_accounts()["mine"]
    html = client.get(f"/app?_s={portal_token(app, mine, admin=True)}").get_data(as_text=True)
    assert mine.hook_token in html and 'data-copy="hook-url"' in html and 'id="change-hook"' in html


def test_other_portal_users_do_not_see_the_hook_address(app, client):
    mine = two_accounts()["mine"]
    token = portal_token(app, mine, admin=False)
    html = client.get(f"/app?_s={token}").get_data(as_text=True)
    assert mine.hook_token not in html and 'id="hook-url-hidden"' in html and 'id="change-hook"' not in html
    old = mine.hook_token
    assert client.post("/app/hook-address", data={"_s": token}).status_code == 403
    db.session.expire_all()
    assert db.session.get(Credential, mine.id).hook_token == old


def test_changing_the_address_in_the_portal_retires_the_old_one_at_once(app, client):
    mine = two_accounts()["mine"]
    old = mine.hook_token
    assert _push(client, old).status_code == 200
    token = portal_token(app, mine, admin=True)
    response = client.post("/app/hook-address", data={"_s": token})
    assert response.status_code == 302 and "notice=hook_changed" in response.headers["Location"]
    db.session.expire_all()
    new = db.session.get(Credential, mine.id).hook_token
    assert new != old
    assert _push(client, old).status_code == 404
    assert _push(client, new).status_code == 200  # same notification: a duplicate, still 2xx
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert new in page and old not in page
    assert 'id="hook-changed"' in page and "уведомления в личном кабинете UIS" in page
    assert Event.query.count() == 1


def test_the_uis_side_sees_and_changes_its_own_hook_address_only(app, client):
    world = two_accounts()
    mine, other = world["mine"], world["other"]
    old, others = mine.hook_token, other.hook_token
    with client.session_transaction() as session:
        session["uis_account_id"] = world["account"].id
    html = client.get(f"/uis/credentials/{mine.id}").get_data(as_text=True)
    assert mine.hook_token in html and 'id="change-hook"' in html
    assert client.post(f"/uis/credentials/{other.id}/hook-address").status_code == 404
    response = client.post(f"/uis/credentials/{mine.id}/hook-address")
    assert response.status_code == 302
    db.session.expire_all()
    assert db.session.get(Credential, other.id).hook_token == others
    new = db.session.get(Credential, mine.id).hook_token
    assert new != old
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert new in page and 'id="hook-changed"' in page
    assert _push(client, old).status_code == 404


def test_changing_the_address_needs_a_signed_in_viewer(client):
    mine = two_accounts()["mine"]
    old = mine.hook_token
    assert client.post("/app/hook-address").status_code == 401
    assert client.post(f"/uis/credentials/{mine.id}/hook-address").status_code in (302, 401)
    db.session.expire_all()
    assert db.session.get(Credential, mine.id).hook_token == old
