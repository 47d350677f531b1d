"""Binds the REST client to a stored Portal: tokens from the database, refreshed once across processes."""
from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from flask import current_app
from redis.exceptions import LockError, RedisError
from sqlalchemy.orm import Session

from bx_app import observability
from bx_app.bitrix.client import PortalClient
from bx_app.bitrix.errors import (
    InvalidClient,
    InvalidGrant,
    NotInstalled,
    PortalNeedsReauth,
    WrongClient,
)
from bx_app.bitrix.limiter import DEFAULT_CAPACITY, DEFAULT_RATE, PortalRateLimiter
from bx_app.bitrix.oauth import OAuthServer, TokenSet
from bx_app.extensions import db, redis_connection
from bx_app.installation import oauth_token_url
from bx_app.models.account import Portal, PortalStatus
from bx_app.models.timeutil import utcnow
from bx_app.outbound import OutboundPolicy

log = logging.getLogger(__name__)

# Refresh answers that mean "this refresh token will never work again": stop and ask for a new install.
_DEAD_GRANT = (InvalidGrant, InvalidClient, NotInstalled, WrongClient)

# When Redis is down, at least the threads of one process still refresh one at a time.
_process_locks: dict[str, threading.Lock] = {}
_process_locks_guard = threading.Lock()


def _process_lock(member_id: str) -> threading.Lock:
    with _process_locks_guard:
        return _process_locks.setdefault(member_id, threading.Lock())


def store_tokens(portal: Portal, token_set: TokenSet) -> None:
    """Put a fresh token pair on ``portal`` (encrypted by the column type); the caller commits."""
    portal.access_token = token_set.access_token
    if token_set.refresh_token:
        portal.refresh_token = token_set.refresh_token
    portal.expires_at = token_set.expires_at
    portal.token_refreshed_at = utcnow()
    if token_set.scope:
        portal.scope = token_set.scope
    if token_set.server_endpoint:
        portal.server_endpoint = token_set.server_endpoint


class PortalTokenSource:
    """The token protocol of ``PortalClient`` for one Portal row.

    Every read is a short transaction of its own (never the caller's ``db.session``: a refresh must not
    commit someone else's half-done work, and no transaction stays open across an HTTP call).
    ``refresh`` is single-flight across processes: a Redis lock per member_id, then the row is read
    again; if its access token is no longer the stale one, another worker already refreshed.
    """

    lock_prefix = "bx:b24:refresh:"

    def __init__(self, portal_id: int, oauth_server: OAuthServer, redis, *, engine=None,
                 refresh_margin: float = 60.0, lock_timeout: float = 30.0, blocking_timeout: float = 40.0):
        self.portal_id = portal_id
        self.oauth_server = oauth_server
        self.redis = redis
        self._engine = engine if engine is not None else db.engine
        self.refresh_margin = timedelta(seconds=refresh_margin)
        # The lock outlives the OAuth call (its timeout is 15 s) so it cannot expire mid-refresh.
        self.lock_timeout = lock_timeout
        self.blocking_timeout = blocking_timeout
        self.refresh_calls = 0  # refreshes this instance actually sent to the OAuth server
        self._member_id: str | None = None

    # --- database ------------------------------------------------------------------------------
    def _session(self) -> Session:
        return Session(self._engine, expire_on_commit=False)

    def _read(self) -> dict[str, Any]:
        with self._session() as session:
            portal = session.get(Portal, self.portal_id)
            if portal is None:
                raise LookupError(f"portal {self.portal_id} does not exist")
            self._member_id = portal.member_id
            return {
                "member_id": portal.member_id,
                "access_token": portal.access_token,
                "refresh_token": portal.refresh_token,
                "expires_at": portal.expires_at,
                "status": portal.status,
            }

    def _needs_reauth_error(self, row: Mapping, reason: str | None = None) -> PortalNeedsReauth:
        return PortalNeedsReauth("NEEDS_REAUTH", reason or "the portal must be authorized again",
                                 None, f"portal:{row.get('member_id')}")

    def _expiring(self, row: Mapping) -> bool:
        expires_at = row.get("expires_at")
        return expires_at is not None and expires_at - utcnow() <= self.refresh_margin

    # --- the token protocol --------------------------------------------------------------------
    def access_token(self) -> str:
        row = self._read()
        if row["status"] == PortalStatus.NEEDS_REAUTH:
            raise self._needs_reauth_error(row)
        if not row["access_token"] or self._expiring(row):
            return self.refresh(row["access_token"] or "")
        return row["access_token"]

    def refresh(self, stale_access_token: str) -> str:
        member_id = self._member_id or self._read()["member_id"]
        lock = None
        try:
            lock = self.redis.lock(f"{self.lock_prefix}{member_id}", timeout=self.lock_timeout,
                                   blocking_timeout=self.blocking_timeout)
            acquired = lock.acquire()
        except RedisError as exc:
            log.warning("token refresh: Redis unavailable (%s); locking member_id=%s in this process only",
                        exc, member_id)
            lock = None
            acquired = None
        if acquired is None:
            with _process_lock(member_id):
                return self._refresh_locked(stale_access_token)
        if not acquired:
            # Someone holds the lock far too long; if they finished meanwhile, their token is good.
            row = self._read()
            if row["access_token"] and row["access_token"] != stale_access_token:
                return row["access_token"]
            raise TimeoutError(f"token refresh lock for member_id={member_id} not acquired")
        try:
            return self._refresh_locked(stale_access_token)
        finally:
            try:
                lock.release()
            except (LockError, RedisError) as exc:  # expired meanwhile, or Redis went away
                log.warning("token refresh lock for member_id=%s: %s", member_id, exc)

    def _refresh_locked(self, stale_access_token: str) -> str:
        row = self._read()
        if row["status"] == PortalStatus.NEEDS_REAUTH:
            raise self._needs_reauth_error(row)
        if row["access_token"] and row["access_token"] != stale_access_token and not self._expiring(row):
            return row["access_token"]  # another worker refreshed while we waited for the lock
        used_refresh_token = row["refresh_token"]
        if not used_refresh_token:
            return self._mark_needs_reauth("no refresh token stored")
        try:
            self.refresh_calls += 1
            tokens = self.oauth_server.refresh(used_refresh_token)
        except _DEAD_GRANT as exc:
            # Only dead if nobody rotated the pair behind our back (a lock that expired, Redis down).
            again = self._read()
            if again["refresh_token"] != used_refresh_token and again["access_token"]:
                return again["access_token"]
            return self._mark_needs_reauth(f"token refresh refused: {exc}", cause=exc)
        with self._session() as session:
            portal = session.get(Portal, self.portal_id)
            store_tokens(portal, tokens)
            session.commit()
        log.info("refreshed tokens for member_id=%s", row["member_id"])
        observability.token_refreshed("ok")
        return tokens.access_token

    def _mark_needs_reauth(self, reason: str, cause: Exception | None = None) -> str:
        with self._session() as session:
            portal = session.get(Portal, self.portal_id)
            portal.status = PortalStatus.NEEDS_REAUTH
            portal.status_reason = reason[:1000]
            member_id = portal.member_id
            session.commit()
        log.warning("portal member_id=%s needs re-authorization: %s", member_id, reason)
        observability.token_refreshed("needs_reauth")
        error = PortalNeedsReauth("NEEDS_REAUTH", reason, getattr(cause, "http_status", None), f"portal:{member_id}")
        if cause is not None:
            raise error from cause
        raise error


def oauth_server_from_config(config: Mapping, server_endpoint: str | None = None) -> OAuthServer:
    """The authorization server for a portal: its own region's when that is a trusted Bitrix24 host."""
    return OAuthServer(oauth_token_url(server_endpoint, config), config["B24_CLIENT_ID"], config["B24_CLIENT_SECRET"])


def _limiter_of(portal: Portal, redis) -> PortalRateLimiter:
    return PortalRateLimiter(redis, portal.member_id, rate=portal.rate_per_second or DEFAULT_RATE,
                             capacity=portal.bucket_size or DEFAULT_CAPACITY)


def rate_limiter_for_portal(portal_id: int, redis=None) -> PortalRateLimiter | None:
    """The portal's shared leaky bucket (the one its clients take from), to ask how long it would wait;
    None when the portal no longer exists."""
    with Session(db.engine) as session:
        portal = session.get(Portal, portal_id)
        if portal is None:
            return None
        return _limiter_of(portal, redis or redis_connection(current_app.config.get("REDIS_URL")))


def client_for_portal(portal_id: int, config: Mapping | None = None, redis=None, **client_options) -> PortalClient:
    """A ``PortalClient`` for a stored portal: its tokens, its rate limits (shared through Redis)."""
    if config is None:
        config = current_app.config
    if redis is None:
        redis = redis_connection(config.get("REDIS_URL"))
    engine = db.engine
    with Session(engine) as session:
        portal = session.get(Portal, portal_id)
        if portal is None:
            raise LookupError(f"portal {portal_id} does not exist")
        endpoint, server_endpoint = portal.client_endpoint, portal.server_endpoint
        limiter = _limiter_of(portal, redis)
        rate, capacity = limiter.rate, portal.bucket_size or DEFAULT_CAPACITY
    token_source = PortalTokenSource(portal_id, oauth_server_from_config(config, server_endpoint), redis,
                                     engine=engine)

    def remember_new_endpoint(new_endpoint: str) -> None:
        # The portal was renamed (302): keep the new address so the next client goes there directly.
        with Session(engine) as session:
            row = session.get(Portal, portal_id)
            row.client_endpoint = new_endpoint
            host = new_endpoint.split("://", 1)[-1].split("/", 1)[0]
            row.domain = host
            session.commit()

    client_options.setdefault("on_endpoint_change", remember_new_endpoint)
    client_options.setdefault("timeout", float(config.get("B24_TIMEOUT_SECONDS") or 65))
    client_options.setdefault("address_policy", OutboundPolicy(bool(config.get("B24_ALLOW_INSECURE_PORTALS"))))
    client = PortalClient(endpoint, token_source, limiter=limiter, **client_options)
    client.labels = {"plan": observability.portal_plan(rate, capacity)}
    return client
