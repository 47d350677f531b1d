"""GET /healthz and GET /metrics: the state of the database, Redis and the queues, for operators and probes."""
from __future__ import annotations

from datetime import datetime

from flask import Blueprint, Response, current_app, jsonify
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import func, text

from bx_app import queues
from bx_app.extensions import db, redis_connection
from bx_app.models import Event
from bx_app.models.event import EventStatus
from bx_app.observability import scrape_registry

bp = Blueprint("health", __name__)


def shared_state() -> dict:
    """Database and Redis reachability, jobs per RQ queue, events not yet done and the oldest one's age.

    Read from the database and Redis, never from this process: every web process answers the same.
    """
    state: dict = {"database": "ok", "redis": "ok", "queue_depth": {}, "oldest_pending_seconds": None}
    try:
        db.session.execute(text("SELECT 1"))
        waiting = (db.session.query(func.count(Event.id), func.min(Event.created_at))
                   .filter(Event.status.in_((EventStatus.NEW, EventStatus.PROCESSING))).one())
        db.session.commit()
        state["queue_depth"]["pending_events"] = waiting[0]
        if waiting[1] is not None:
            oldest = waiting[1]
            now = datetime.now(oldest.tzinfo) if oldest.tzinfo else datetime.utcnow()  # noqa: DTZ003 - naive UTC
            state["oldest_pending_seconds"] = round(max(0.0, (now - oldest).total_seconds()), 1)
        else:
            state["oldest_pending_seconds"] = 0
    except Exception as exc:  # noqa: BLE001 - any failure means "down"
        state["database"] = f"down: {exc.__class__.__name__}"
        db.session.rollback()
    try:
        redis = redis_connection(current_app.config["REDIS_URL"])
        pipe = redis.pipeline(transaction=False)
        for name in queues.ALL:
            pipe.llen(f"rq:queue:{name}")
        for name, depth in zip(queues.ALL, pipe.execute(), strict=True):
            state["queue_depth"][name] = depth
    except Exception as exc:  # noqa: BLE001
        state["redis"] = f"down: {exc.__class__.__name__}"
    return state


@bp.get("/healthz")
def healthz():
    state = shared_state()
    ok = state["database"] == "ok" and state["redis"] == "ok"
    return jsonify(status="ok" if ok else "degraded", **state), 200 if ok else 503


@bp.get("/metrics")
def metrics():
    """Prometheus text format: what every process recorded (kept in Redis) and the shared state now."""
    state = shared_state()
    redis = redis_connection(current_app.config["REDIS_URL"]) if state["redis"] == "ok" else None
    try:
        body = generate_latest(scrape_registry(redis, state))
    except Exception:  # noqa: BLE001 - Redis went away mid-scrape: the shared state alone
        body = generate_latest(scrape_registry(None, state))
    return Response(body, content_type=CONTENT_TYPE_LATEST)
