"""Typed exceptions for every error a Bitrix24 portal or its authorization server answers with."""
from __future__ import annotations

import time
from typing import Any


class BitrixError(Exception):
    """An error answered by Bitrix24 (or met on the way to it).

    ``retryable`` means "the same request may succeed later": the client retries some of these
    inline (see ``PortalClient``); background jobs reschedule the rest.
    """

    retryable = False
    default_code = ""

    def __init__(self, code: str | None = None, description: str = "", http_status: int | None = None,
                 method: str | None = None):
        self.code = self.default_code if code is None else code
        self.description = description or ""
        self.http_status = http_status
        self.method = method
        super().__init__(str(self))

    def __str__(self) -> str:
        # The portal's own words go into the journal unchanged; the code only prefixes them.
        if self.code and self.description:
            return f"{self.code}: {self.description}"
        return self.code or self.description or f"HTTP {self.http_status}"

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(code={self.code!r}, description={self.description!r}, "
                f"http_status={self.http_status!r}, method={self.method!r})")

    def __reduce__(self):
        # Exceptions cross process boundaries (RQ, multiprocessing): keep the keyword fields.
        return (_rebuild, (type(self), self.code, self.description, self.http_status, self.method))


def _rebuild(cls, code, description, http_status, method):
    return cls(code, description, http_status, method)


# --- authorization ------------------------------------------------------------------------------
class AuthError(BitrixError):
    """The token or the application is not (or no longer) accepted."""


class ExpiredToken(AuthError):
    default_code = "expired_token"


class InvalidToken(AuthError):
    default_code = "invalid_token"


class NoAuthFound(AuthError):
    default_code = "NO_AUTH_FOUND"


class InvalidCredentials(AuthError):
    default_code = "INVALID_CREDENTIALS"


class InvalidGrant(AuthError):
    """The refresh token (or code) is wrong, expired or already used."""

    default_code = "invalid_grant"


class InvalidClient(AuthError):
    default_code = "invalid_client"


class WrongClient(AuthError):
    """Unknown client_id; the authorization server says so with HTTP 200."""

    default_code = "wrong_client"


class NotInstalled(AuthError):
    """The app was removed from the portal (NOT_INSTALLED, ERROR_OAUTH, APPLICATION_NOT_FOUND)."""

    default_code = "NOT_INSTALLED"


class PaymentRequired(AuthError):
    default_code = "PAYMENT_REQUIRED"


class AuthorizationError(AuthError):
    """The token's user was dismissed or deactivated."""

    default_code = "authorization_error"


class MethodConfirmWaiting(AuthError):
    default_code = "METHOD_CONFIRM_WAITING"


class PortalNeedsReauth(AuthError):
    """The stored refresh token is dead: an administrator must open the app (or reconnect) again."""

    default_code = "NEEDS_REAUTH"


# --- permissions --------------------------------------------------------------------------------
class AccessDenied(BitrixError):
    default_code = "ACCESS_DENIED"


class InsufficientScope(AccessDenied):
    default_code = "insufficient_scope"


class UserAccessError(AccessDenied):
    default_code = "user_access_error"


class WrongAuthType(AccessDenied):
    default_code = "WRONG_AUTH_TYPE"


# --- limits -------------------------------------------------------------------------------------
class RateLimited(BitrixError):
    retryable = True


class QueryLimitExceeded(RateLimited):
    """The portal's leaky bucket overflowed (HTTP 503)."""

    default_code = "QUERY_LIMIT_EXCEEDED"


class OperationTimeLimit(RateLimited):
    """One method used up its execution time (HTTP 429); other methods still work.

    ``reset_at`` (unix time) is when the method unblocks, if known; ``retry_after`` the seconds left.
    """

    default_code = "OPERATION_TIME_LIMIT"
    # Bitrix24's own JS SDK waits at least this long when it does not know the reset time.
    minimum_wait = 10.0

    def __init__(self, code=None, description="", http_status=None, method=None, reset_at: float | None = None):
        self.reset_at = reset_at
        super().__init__(code, description, http_status, method)

    @property
    def retry_after(self) -> float:
        if self.reset_at is None:
            return self.minimum_wait
        return max(self.reset_at - time.time(), self.minimum_wait)

    def __reduce__(self):
        return (_rebuild_operation_limit, (self.code, self.description, self.http_status, self.method, self.reset_at))


def _rebuild_operation_limit(code, description, http_status, method, reset_at):
    return OperationTimeLimit(code, description, http_status, method, reset_at=reset_at)


class OverloadLimit(RateLimited):
    """REST blocked by Bitrix24 support by hand: later, not in a tight loop."""

    default_code = "OVERLOAD_LIMIT"


# --- request shape ------------------------------------------------------------------------------
class InvalidRequest(BitrixError):
    default_code = "INVALID_REQUEST"


class InvalidScope(InvalidRequest):
    """The token endpoint refused the requested scope."""

    default_code = "INVALID_SCOPE"


class MethodNotFound(BitrixError):
    default_code = "ERROR_METHOD_NOT_FOUND"


class BatchError(BitrixError):
    pass


class BatchLengthExceeded(BatchError):
    default_code = "ERROR_BATCH_LENGTH_EXCEEDED"


class BatchMethodNotAllowed(BatchError):
    default_code = "ERROR_BATCH_METHOD_NOT_ALLOWED"


class NotFound(BitrixError):
    default_code = "NOT_FOUND"


# --- the portal's own CRM messages (classic crm.*: "error": "" + text) --------------------------
class CrmError(BitrixError):
    """A classic CRM method refused the data; ``description`` is the portal's message, for the journal."""


class CrmNotFound(CrmError, NotFound):
    default_code = ""


class CrmAccessDenied(CrmError, AccessDenied):
    default_code = ""


# --- transport ----------------------------------------------------------------------------------
class ServerError(BitrixError):
    """HTTP 5xx (other than the limits) or a body that is not the JSON Bitrix24 promises."""

    retryable = True
    default_code = "INTERNAL_SERVER_ERROR"


class NetworkError(BitrixError):
    """No HTTP answer at all: connection refused, DNS, TLS, timeout."""

    retryable = True
    default_code = "NETWORK_ERROR"


class ForbiddenAddress(BitrixError):
    """The portal's address (or the host it redirects to) is one the server must not contact."""

    default_code = "FORBIDDEN_ADDRESS"


# Codes as Bitrix24 spells them; matching is case-insensitive (both NO_AUTH_FOUND and expired_token exist).
_BY_CODE: dict[str, type[BitrixError]] = {
    "expired_token": ExpiredToken,
    "invalid_token": InvalidToken,
    "no_auth_found": NoAuthFound,
    "invalid_credentials": InvalidCredentials,
    "invalid_grant": InvalidGrant,
    "bad_verification_code": InvalidGrant,
    "invalid_client": InvalidClient,
    "wrong_client": WrongClient,
    "not_installed": NotInstalled,
    "application_not_found": NotInstalled,
    "payment_required": PaymentRequired,
    "authorization_error": AuthorizationError,
    "method_confirm_waiting": MethodConfirmWaiting,
    "error_oauth": AuthError,
    "access_denied": AccessDenied,
    "insufficient_scope": InsufficientScope,
    "user_access_error": UserAccessError,
    "wrong_auth_type": WrongAuthType,
    "query_limit_exceeded": QueryLimitExceeded,
    "operation_time_limit": OperationTimeLimit,
    "overload_limit": OverloadLimit,
    "invalid_request": InvalidRequest,
    "invalid_scope": InvalidScope,
    "error_method_not_found": MethodNotFound,
    "method_not_found": MethodNotFound,
    "error_batch_length_exceeded": BatchLengthExceeded,
    "error_batch_method_not_allowed": BatchMethodNotAllowed,
    "not_found": NotFound,
    "internal_server_error": ServerError,
}


def error_class_for(code: str) -> type[BitrixError] | None:
    return _BY_CODE.get((code or "").lower())


def from_response(status: int | None, body: Any, method: str | None = None) -> BitrixError:
    """The typed exception for one error answer (a parsed JSON body, raw text or None)."""
    if isinstance(body, dict) and "error" in body:
        code = str(body.get("error") or "")
        description = str(body.get("error_description") or body.get("error_message") or "")
        return error_from_code(code, description, status, method)
    if status is not None and status >= 500:
        text = body if isinstance(body, str) else ""
        return ServerError("INTERNAL_SERVER_ERROR", text[:500] or f"HTTP {status}", status, method)
    if status == 404:
        return MethodNotFound("ERROR_METHOD_NOT_FOUND", "Method not found", status, method)
    text = body if isinstance(body, str) else ""
    return BitrixError(f"HTTP_{status}", text[:500], status, method)


def error_from_code(code: str, description: str = "", status: int | None = None,
                    method: str | None = None) -> BitrixError:
    """Map an error code (and, for classic crm.* answers, the text) to its exception class."""
    if code == "":
        # Classic crm.* methods answer "error": "" and put everything into the text.
        text = description.strip().rstrip(".!").lower()
        if text == "not found" or text.endswith(" not found"):
            return CrmNotFound("", description, status, method)
        if text.startswith("access denied"):
            return CrmAccessDenied("", description, status, method)
        return CrmError("", description, status, method)
    if code.upper() == "ERROR_OAUTH" and "not installed" in description.lower():
        return NotInstalled(code, description, status, method)
    cls = error_class_for(code)
    if cls is None:
        if status is not None and status >= 500:
            return ServerError(code, description, status, method)
        return BitrixError(code, description, status, method)
    return cls(code, description, status, method)
