"""The RQ queues and every way a service hands work to the workers (job entry points named by path)."""
from __future__ import annotations

from datetime import timedelta

from flask import current_app
from rq import Queue

from bx_app.extensions import redis_connection

EVENTS = "events"
DEFAULT = "default"
SYNC = "sync"
ALL = (EVENTS, DEFAULT, SYNC)

# Job entry points live in bx_app/jobs.py; services name them, never import them (jobs import services).
_JOBS = "bx_app.jobs"
_DRAIN = {"job_timeout": 900, "result_ttl": 60, "failure_ttl": 86400}  # a drain job, now or later


def queue(name: str = DEFAULT) -> Queue:
    return Queue(name, connection=redis_connection(current_app.config["REDIS_URL"]))


def start_drain(portal_id: int) -> None:
    """One drain job for the portal's pending set (the caller holds the portal's drain flag)."""
    queue(EVENTS).enqueue(f"{_JOBS}.drain_portal", portal_id, **_DRAIN)


def start_drain_in(portal_id: int, delay_seconds: float) -> None:
    """The portal's drain again after a pause: its bucket short of room, or its next group filling up (the
    caller keeps the drain flag)."""
    queue(EVENTS).enqueue_in(timedelta(seconds=delay_seconds), f"{_JOBS}.drain_portal", portal_id, **_DRAIN)


def requeue_later(portal_id: int, event_ids: list[int], delay_seconds: int) -> None:
    """Retries due in `delay_seconds`: back into the portal's pending set then, coalesced by its drain."""
    queue(EVENTS).enqueue_in(timedelta(seconds=delay_seconds), f"{_JOBS}.requeue_events", portal_id, event_ids,
                             result_ttl=60, failure_ttl=86400)


def poll_credential(credential_id: int) -> None:
    queue(DEFAULT).enqueue(f"{_JOBS}.poll_credential", credential_id, job_timeout=600, result_ttl=300)


def sync_credential(credential_id: int, task_id: str | None) -> None:
    queue(SYNC).enqueue(f"{_JOBS}.sync_credential", credential_id, task_id, job_timeout=900)


def retry_all_failed(credential_id: int, task_id: str) -> None:
    queue(DEFAULT).enqueue(f"{_JOBS}.retry_all_failed", credential_id, task_id, job_timeout=1800, result_ttl=600,
                           failure_ttl=86400)
