"""RQ jobs: they take ids (never ORM objects) and run inside the app context of their worker process."""
from __future__ import annotations

import logging
from datetime import timedelta
from functools import wraps

from flask import Flask, current_app, has_app_context

log = logging.getLogger(__name__)

QUEUE_EVENTS = "events"
QUEUE_DEFAULT = "default"
QUEUE_SYNC = "sync"
QUEUES = (QUEUE_EVENTS, QUEUE_DEFAULT, QUEUE_SYNC)

_worker_app: Flask | None = None

# Refresh tokens die unused after 28 days on older portals (180 on newer): refresh well before.
TOKEN_KEEPALIVE_AGE = timedelta(days=20)


def _app() -> Flask:
    global _worker_app
    if _worker_app is None:
        from bx_app import create_app

        _worker_app = create_app()
    return _worker_app


def in_app_context(func):
    """Run a job inside an app context (the worker's own app unless one is already pushed)."""

    @wraps(func)
    def wrapper(*args, **kwargs):
        from bx_app.observability import timed_job

        if has_app_context():
            with timed_job(func.__name__):
                return func(*args, **kwargs)
        with _app().app_context(), timed_job(func.__name__):
            return func(*args, **kwargs)

    return wrapper


def queue(name: str = QUEUE_DEFAULT):
    from rq import Queue

    from bx_app.extensions import redis_connection

    return Queue(name, connection=redis_connection(current_app.config["REDIS_URL"]))


def refresh_portal_tokens(portal_id: int) -> None:
    """Rotate one portal's token pair now (single-flight with any concurrent refresh)."""
    from bx_app.extensions import db, redis_connection
    from bx_app.models import Portal
    from bx_app.portal_auth import PortalTokenSource, oauth_server_from_config

    portal = db.session.get(Portal, portal_id)
    current, server_endpoint = portal.access_token or "", portal.server_endpoint
    db.session.commit()
    source = PortalTokenSource(portal_id, oauth_server_from_config(current_app.config, server_endpoint),
                               redis_connection())
    source.refresh(current)


@in_app_context
def keep_tokens_alive() -> int:
    """Refresh the tokens of installed portals that have not been refreshed for a while."""
    from bx_app.bitrix.errors import PortalNeedsReauth
    from bx_app.models import Portal
    from bx_app.models.account import PortalStatus
    from bx_app.models.timeutil import utcnow

    cutoff = utcnow() - TOKEN_KEEPALIVE_AGE
    ids = [p.id for p in Portal.query.filter(Portal.status == PortalStatus.INSTALLED).all()
           if p.token_refreshed_at is None or p.token_refreshed_at < cutoff]
    refreshed = 0
    for portal_id in ids:
        try:
            refresh_portal_tokens(portal_id)
            refreshed += 1
        except PortalNeedsReauth:
            log.warning("portal %s needs re-authorisation", portal_id)
        except Exception:  # noqa: BLE001 - one portal's trouble never stops the others
            log.exception("token keep-alive failed for portal %s", portal_id)
    return refreshed


@in_app_context
def process_event(event_id: int) -> bool:
    """Jobs queued by older releases: the event joins its portal's pending set like any other."""
    from bx_app.intake import enqueue_event

    return enqueue_event(event_id)


@in_app_context
def requeue_events(portal_id: int, event_ids: list[int]) -> int:
    """Retries that are due: back into the portal's pending set, coalesced with the rest by its drain."""
    from bx_app.intake import requeue_events as requeue

    return requeue(portal_id, event_ids)


@in_app_context
def drain_portal(portal_id: int) -> int:
    """Process one portal's pending events; with more left, go to the back of the queue (fairness)."""
    from bx_app.processing import drain_portal as drain

    return drain(portal_id)


@in_app_context
def sweep_stranded() -> int:
    from bx_app.intake import sweep_stranded as sweep

    return sweep()


@in_app_context
def poll_all() -> int:
    from bx_app.polling import enqueue_polls

    return enqueue_polls()


@in_app_context
def poll_credential(credential_id: int) -> dict:
    from bx_app.polling import poll_credential as poll

    return poll(credential_id)


def sync_all_credentials() -> int:
    """Every 30 minutes: refresh each credential's reference data (users, fields, employees, channels)."""
    from bx_app.sync_jobs import sync_all_credentials as sync_all

    return sync_all()


def periodic_jobs(poll_seconds: int, sweep_seconds: int = 30):
    """(function, queue, options) for the worker's CronScheduler."""
    return [
        (poll_all, QUEUE_DEFAULT, {"interval": max(5, poll_seconds), "job_timeout": 120}),
        (sweep_stranded, QUEUE_DEFAULT, {"interval": max(2, sweep_seconds), "job_timeout": 120}),
        (keep_tokens_alive, QUEUE_DEFAULT, {"interval": 6 * 3600, "job_timeout": 600}),
        (sync_all_credentials, QUEUE_SYNC, {"interval": 1800, "job_timeout": 600}),
    ]
