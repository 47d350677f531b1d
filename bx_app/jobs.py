"""RQ job entry points: they take ids (never ORM objects) and run inside the app context of their worker.

Services queue them by path through bx_app.queues and never import this module; the periodic schedule
(`flask --app wsgi scheduler`) registers the ones in `PERIODIC`.
"""
from __future__ import annotations

import logging
from datetime import timedelta
from functools import wraps

from flask import current_app, has_app_context

from bx_app import intake, journal_view, personal_data, polling, queues, reference_sync, uis_accounts
from bx_app.bitrix.errors import PortalNeedsReauth
from bx_app.engine import drain
from bx_app.extensions import db, redis_connection
from bx_app.models import Portal, UisAccount
from bx_app.models.account import PortalStatus
from bx_app.models.timeutil import utcnow
from bx_app.observability import timed_job
from bx_app.portal_auth import PortalTokenSource, oauth_server_from_config

log = logging.getLogger(__name__)

# Refresh tokens die unused after 28 days on older portals (180 on newer): refresh well before.
TOKEN_KEEPALIVE_AGE = timedelta(days=20)


def in_app_context(func):
    """Run a job in a fresh app context of its worker's app (`flask --app wsgi worker`).

    Fresh per job: a worker runs many jobs in one process, and each must start with its own database
    session (nothing a failed job left in the identity map or its transaction), removed when it ends.
    """

    @wraps(func)
    def wrapper(*args, **kwargs):
        if not has_app_context():
            raise RuntimeError(f"job {func.__name__} needs the app: run workers with `flask --app wsgi worker`")
        with current_app.app_context(), timed_job(func.__name__):
            return func(*args, **kwargs)

    return wrapper


# --- events ---------------------------------------------------------------------------------------
@in_app_context
def drain_portal(portal_id: int) -> int:
    """Process one portal's pending events; with more left, go to the back of the queue (fairness)."""
    return drain.drain_portal(portal_id)


@in_app_context
def requeue_events(portal_id: int, event_ids: list[int]) -> int:
    """Retries that are due: back into the portal's pending set, coalesced with the rest by its drain."""
    return intake.requeue_events(portal_id, event_ids)


@in_app_context
def process_event(event_id: int) -> bool:
    """Jobs queued by older releases: the event joins its portal's pending set like any other."""
    return intake.enqueue_event(event_id)


@in_app_context
def retry_all_failed(credential_id: int, task_id: str) -> int:
    return journal_view.retry_all_failed(credential_id, task_id)


# --- the periodic schedule --------------------------------------------------------------------------
@in_app_context
def sweep_stranded() -> int:
    return intake.sweep_stranded()


@in_app_context
def poll_all() -> int:
    return polling.enqueue_polls()


@in_app_context
def poll_credential(credential_id: int) -> dict:
    return polling.poll_credential(credential_id)


@in_app_context
def sync_credential(credential_id: int, task_id: str | None = None) -> dict:
    return reference_sync.sync_credential(credential_id, task_id)


@in_app_context
def sync_all_credentials() -> int:
    """Every 30 minutes: queue one reference sync per installed credential (each with its own lock)."""
    ids = reference_sync.syncable_credential_ids()
    for credential_id in ids:
        queues.sync_credential(credential_id, None)
    return len(ids)


def refresh_portal_tokens(portal_id: int) -> None:
    """Rotate one portal's token pair now (single-flight with any concurrent refresh)."""
    portal = db.session.get(Portal, portal_id)
    current, server_endpoint = portal.access_token or "", portal.server_endpoint
    db.session.commit()
    source = PortalTokenSource(portal_id, oauth_server_from_config(current_app.config, server_endpoint),
                               redis_connection())
    source.refresh(current)


@in_app_context
def keep_tokens_alive() -> int:
    """Refresh the tokens of installed portals that have not been refreshed for a while."""
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


# How often each UIS account's stored Data API key is asked whether UIS still accepts it.
KEY_RECHECK_SECONDS = 30 * 60


@in_app_context
def recheck_data_api_keys() -> int:
    """Every stored polling key checked with get.account; a revoked one signs its account out (shown)."""
    refused = 0
    for account_id in [row.id for row in UisAccount.query.filter(UisAccount.data_api_token.isnot(None))]:
        account = db.session.get(UisAccount, account_id)
        try:
            if not uis_accounts.recheck_stored_key(account, current_app.config["UIS_DATA_API_URL"]):
                refused += 1
        except Exception:  # noqa: BLE001 - one account's trouble never stops the others
            log.exception("Data API key check failed for UIS account %s", account_id)
            db.session.rollback()
    return refused


@in_app_context
def prune_personal_data() -> dict:
    """Daily: old events lose their personal data; portals uninstalled past the grace period, everything."""
    config = current_app.config
    return {"events": personal_data.prune_old_events(config["PERSONAL_DATA_DAYS"]),
            "portals": personal_data.delete_uninstalled_portals(config["UNINSTALL_GRACE_DAYS"])}


def periodic(poll_seconds: int, sweep_seconds: int = 30) -> list[tuple]:
    """(function, queue, options) for the deployment's one CronScheduler."""
    return [
        (poll_all, queues.DEFAULT, {"interval": max(5, poll_seconds), "job_timeout": 120}),
        (sweep_stranded, queues.DEFAULT, {"interval": max(2, sweep_seconds), "job_timeout": 120}),
        (keep_tokens_alive, queues.DEFAULT, {"interval": 6 * 3600, "job_timeout": 600}),
        (sync_all_credentials, queues.SYNC, {"interval": reference_sync.SCHEDULE_SECONDS, "job_timeout": 600}),
        (recheck_data_api_keys, queues.DEFAULT, {"interval": KEY_RECHECK_SECONDS, "job_timeout": 600}),
        (prune_personal_data, queues.DEFAULT, {"interval": 24 * 3600, "job_timeout": 3600}),
    ]
