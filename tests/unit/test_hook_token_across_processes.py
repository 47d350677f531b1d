"""A hook token changed by one process stops the pushes in every other at once (no per-process cache)."""
from __future__ import annotations

from bx_app import create_app
from bx_app.extensions import db
from bx_app.models import Credential, Portal
from tests.conftest import TEST_CONFIG, reference_fixture


def test_a_replaced_hook_token_is_refused_at_once_by_another_web_process(app, client, database_url, redis_url):
    portal = Portal(member_id="m1", domain="p1.bitrix24.ru", client_endpoint="https://p1.bitrix24.ru/rest/",
                    status="installed")
    credential = Credential(name="p1", portal=portal)
    db.session.add_all([portal, credential])
    db.session.commit()
    old_token = credential.hook_token
    notification = reference_fixture("uis/notification_offline_message.json")
    assert client.post(f"/hooks/uis/{old_token}", json=notification).status_code == 200

    other_process = create_app(dict(TEST_CONFIG, SQLALCHEMY_DATABASE_URI=database_url, REDIS_URL=redis_url))
    with other_process.app_context():
        Credential.query.filter_by(id=credential.id).update({"hook_token": "replaced-token"})
        db.session.commit()
        db.session.remove()
        db.engine.dispose()

    repeat = dict(notification, offline_message_id=660012346)
    assert client.post(f"/hooks/uis/{old_token}", json=repeat).status_code == 404
    assert client.post("/hooks/uis/replaced-token", json=repeat).status_code == 200
