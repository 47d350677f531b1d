"""GET /healthz: the state of the database and Redis, for load balancers and the run script."""
from __future__ import annotations

from flask import Blueprint, jsonify
from sqlalchemy import text

from bx_app.extensions import db, redis_connection

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():
    state = {"database": "ok", "redis": "ok"}
    try:
        db.session.execute(text("SELECT 1"))
    except Exception as exc:  # noqa: BLE001 - any failure means "down"
        state["database"] = f"down: {exc.__class__.__name__}"
        db.session.rollback()
    try:
        redis_connection().ping()
    except Exception as exc:  # noqa: BLE001
        state["redis"] = f"down: {exc.__class__.__name__}"
    ok = all(v == "ok" for v in state.values())
    return jsonify(status="ok" if ok else "degraded", **state), 200 if ok else 503
