"""GET /healthz: 200 with both the database and Redis up, 503 naming what is down."""
from __future__ import annotations


def test_healthz_ok(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok", "database": "ok", "redis": "ok"}


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
