"""The Bitrix24 authorization server: authorize URL, code exchange, token refresh and app.info."""
from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import requests
from authlib.integrations.base_client.errors import OAuthError
from authlib.integrations.requests_client import OAuth2Session

from bx_app.bitrix.errors import BitrixError, NetworkError, ServerError, error_from_code, from_response


@dataclass
class TokenSet:
    access_token: str
    refresh_token: str | None
    expires_at: datetime  # naive UTC, like every timestamp in the database
    member_id: str | None = None
    client_endpoint: str | None = None  # the portal's REST endpoint
    server_endpoint: str | None = None
    scope: str | None = None
    user_id: int | None = None
    domain: str | None = None  # the OAuth server's host, NOT the portal (that is client_endpoint)
    status: str | None = None

    @classmethod
    def from_response(cls, body: dict, now: float | None = None) -> TokenSet:
        now = time.time() if now is None else now
        if body.get("expires"):
            expires = float(body["expires"])
        else:
            expires = now + float(body.get("expires_in") or 3600)
        user_id = body.get("user_id")
        return cls(
            access_token=str(body["access_token"]),
            refresh_token=body.get("refresh_token"),
            expires_at=datetime.fromtimestamp(expires, UTC).replace(tzinfo=None),
            member_id=body.get("member_id"),
            client_endpoint=body.get("client_endpoint"),
            server_endpoint=body.get("server_endpoint"),
            scope=body.get("scope"),
            user_id=int(user_id) if str(user_id or "").isdigit() else None,
            domain=body.get("domain"),
            status=body.get("status"),
        )

    @property
    def expires_in(self) -> float:
        return (self.expires_at - datetime.now(UTC).replace(tzinfo=None)) / timedelta(seconds=1)


class OAuthServer:
    """One Bitrix24 authorization server (oauth.bitrix.info, oauth.bitrix24.tech or the sandbox).

    Bitrix24 wants GET with query parameters on ``/oauth/token/``; errors come back as typed
    ``BitrixError``s with the HTTP status (``wrong_client`` arrives with 200).
    """

    def __init__(self, token_url: str, client_id: str, client_secret: str, session: requests.Session | None = None,
                 timeout: float = 15.0):
        self.token_url = token_url
        self.client_id = client_id
        self.client_secret = client_secret
        self.timeout = timeout  # short: the refresh runs under a lock that others wait for
        self._session = session

    @property
    def app_info_url(self) -> str:
        base = self.token_url
        for tail in ("oauth/token/", "oauth/token"):
            if base.endswith(tail):
                return base[: -len(tail)] + "rest/app.info"
        return base.rstrip("/").rsplit("/oauth/", 1)[0] + "/rest/app.info"

    def authorize_url(self, portal_base_url: str, state: str) -> str:
        query = urlencode({"client_id": self.client_id, "state": state})
        return f"{portal_base_url.rstrip('/')}/oauth/authorize/?{query}"

    def exchange_code(self, code: str) -> TokenSet:
        return self._token_request("authorization_code", code=code)

    def refresh(self, refresh_token: str) -> TokenSet:
        if not refresh_token:
            raise error_from_code("invalid_request", 'No "refresh_token" parameter found', None, "oauth/token")
        return self._token_request("refresh_token", refresh_token=refresh_token)

    def app_info(self, auth_id: str) -> dict:
        """The authorization server's view of a token: client_id, scope, user_id, install{member_id, domain…}."""
        session = self._session or requests.Session()
        try:
            response = session.get(self.app_info_url, params={"auth": auth_id}, timeout=self.timeout)
        except requests.RequestException as exc:
            raise NetworkError("NETWORK_ERROR", f"{type(exc).__name__}: {exc}", None, "app.info") from exc
        body = _json_or_none(response)
        if response.status_code != 200 or not isinstance(body, dict) or "error" in body:
            raise from_response(response.status_code, body if body is not None else response.text, "app.info")
        return body.get("result") or {}

    # --- internals -----------------------------------------------------------------------------
    def _oauth_session(self) -> OAuth2Session:
        # A fresh Authlib session per request: it stores the token it fetched, which threads must not share.
        oauth = OAuth2Session(client_id=self.client_id, token_endpoint_auth_method="none")
        if self._session is not None:
            # Reuse the injected transport (adapters, mocks) without sharing Authlib's token state.
            oauth.adapters = self._session.adapters
        oauth.register_compliance_hook("access_token_response", _raise_typed_error)
        return oauth

    def _token_request(self, grant_type: str, **params: Any) -> TokenSet:
        oauth = self._oauth_session()
        try:
            # client_id travels through the "none" client auth; the secret as a query parameter (Bitrix24's way).
            token = oauth.fetch_token(self.token_url, method="GET", grant_type=grant_type,
                                      client_secret=self.client_secret, timeout=self.timeout, **params)
        except BitrixError:
            raise
        except OAuthError as exc:  # an error the hook did not see (should not happen)
            raise error_from_code(exc.error or "invalid_request", exc.description or "", None, "oauth/token") from exc
        except requests.RequestException as exc:
            raise NetworkError("NETWORK_ERROR", f"{type(exc).__name__}: {exc}", None, "oauth/token") from exc
        except ValueError as exc:  # not JSON
            raise ServerError("BAD_RESPONSE", str(exc)[:200], None, "oauth/token") from exc
        if not token.get("access_token"):
            raise ServerError("BAD_RESPONSE", "token response without access_token", 200, "oauth/token")
        return TokenSet.from_response(dict(token))
        # (Authlib adds expires_at; TokenSet reads Bitrix24's own `expires`/`expires_in`.)


def _json_or_none(response: requests.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _raise_typed_error(response: requests.Response) -> requests.Response:
    """Authlib compliance hook: turn an error answer into our typed error while the HTTP status is known."""
    body = _json_or_none(response)
    if isinstance(body, dict) and body.get("error"):
        raise error_from_code(str(body["error"]), str(body.get("error_description") or ""),
                              response.status_code, "oauth/token")
    if response.status_code != 200 or not isinstance(body, dict):
        raise from_response(response.status_code, body if body is not None else response.text[:500], "oauth/token")
    return response
