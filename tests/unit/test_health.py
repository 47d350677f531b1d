"""GET /healthz: 200 with both the database and Redis up, 503 naming what is down; queue depth and age."""
from __future__ import annotations

from datetime import timedelta

from bx_app.extensions import db
from bx_app.models import Credential, Event, Portal
from bx_app.models.event import EventStatus
from bx_app.models.timeutil import utcnow


def test_healthz_ok(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok", "database": "ok", "redis": "ok", "oldest_pending_seconds": 0,
                                   "queue_depth": {"pending_events": 0, "events": 0, "default": 0, "sync": 0}}


def test_healthz_shows_events_waiting_and_the_oldest_ones_age(client):
    portal = Portal(member_id="m1", domain="p1.bitrix24.ru", client_endpoint="https://p1.bitrix24.ru/rest/")
    credential = Credential(name="p1", portal=portal)
    db.session.add_all([portal, credential])
    db.session.flush()
    for n, (status, age) in enumerate([(EventStatus.NEW, 90), (EventStatus.PROCESSING, 30),
                                       (EventStatus.DONE, 4000), (EventStatus.FAILED, 5000)]):
        db.session.add(Event(credential_id=credential.id, kind="offline_message", stage="arrived",
                             external_id=str(n), dedupe_key=f"k{n}", source="push", payload={}, status=status,
                             created_at=utcnow() - timedelta(seconds=age)))
    db.session.commit()
    body = client.get("/healthz").get_json()
    assert body["queue_depth"]["pending_events"] == 2
    assert 90 <= body["oldest_pending_seconds"] < 120


def test_healthz_reports_redis_down(app, client):
    app.config["REDIS_URL"] = "redis://127.0.0.1:1/0"
    response = client.get("/healthz")
    assert response.status_code == 503
    body = response.get_json()
    assert body["database"] == "ok" and body["redis"].startswith("down")


def test_healthz_reports_database_down(app, client, tmp_path):
    from bx_app.extensions import db

    with app.app_context():
        db.engine.dispose()
    app.config["SQLALCHEMY_DATABASE_URI"] = "sqlite:////nonexistent/dir/x.db"
    from sqlalchemy import create_engine

    db._app_engines[app][None] = create_engine("sqlite:////nonexistent/dir/x.db")
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.get_json()["database"].startswith("down")
