"""Every documented Bitrix24 error code maps to its typed exception."""
from __future__ import annotations

import pickle

import pytest

from bx_app.bitrix import errors as e
from tests.conftest import reference_fixture

EXPECTED_REST = {
    "expired_token": e.ExpiredToken,
    "invalid_token": e.InvalidToken,
    "NO_AUTH_FOUND": e.NoAuthFound,
    "insufficient_scope": e.InsufficientScope,
    "ACCESS_DENIED": e.AccessDenied,
    "user_access_error": e.UserAccessError,
    "WRONG_AUTH_TYPE": e.WrongAuthType,
    "ERROR_OAUTH": e.NotInstalled,
    "authorization_error": e.AuthorizationError,
    "ERROR_METHOD_NOT_FOUND": e.MethodNotFound,
    "INVALID_REQUEST": e.InvalidRequest,
    "QUERY_LIMIT_EXCEEDED": e.QueryLimitExceeded,
    "OPERATION_TIME_LIMIT": e.OperationTimeLimit,
    "OVERLOAD_LIMIT": e.OverloadLimit,
    "INTERNAL_SERVER_ERROR": e.ServerError,
}

EXPECTED_OAUTH = {
    "invalid_grant": e.InvalidGrant,
    "invalid_client": e.InvalidClient,
    "wrong_client": e.WrongClient,
    "invalid_request": e.InvalidRequest,
    "PAYMENT_REQUIRED": e.PaymentRequired,
    "NOT_INSTALLED": e.NotInstalled,
    "INVALID_SCOPE": e.InvalidScope,
}


def test_every_rest_catalog_entry_maps_to_a_typed_error():
    catalog = reference_fixture("bitrix24/rest_errors_catalog.json")["errors"]
    for entry in catalog:
        error = e.from_response(entry["http_status"], entry["body"], "crm.lead.add")
        code = entry["body"]["error"]
        assert isinstance(error, e.BitrixError)
        assert error.http_status == entry["http_status"]
        assert error.method == "crm.lead.add"
        assert error.description == entry["body"]["error_description"]
        if code:
            assert type(error) is EXPECTED_REST[code], code
            assert error.code == code
        else:
            # classic crm.*: the portal's own message is kept for the journal
            assert isinstance(error, e.CrmError)
            assert str(error) == entry["body"]["error_description"]
    assert {c["body"]["error"] for c in catalog if c["body"]["error"]} == set(EXPECTED_REST)


def test_every_oauth_error_maps_to_a_typed_error():
    for case in reference_fixture("bitrix24/oauth_token_errors.json")["cases"]:
        code = case["body"]["error"]
        error = e.from_response(case["http_status"], case["body"], "oauth/token")
        assert type(error) is EXPECTED_OAUTH[code], code
        assert error.http_status == case["http_status"]


def test_classic_crm_errors_keep_the_portal_text():
    not_found = e.from_response(400, {"error": "", "error_description": "Not found"}, "crm.lead.get")
    assert isinstance(not_found, e.CrmError) and isinstance(not_found, e.NotFound)
    denied = e.from_response(400, {"error": "", "error_description": "Access denied."})
    assert isinstance(denied, e.CrmError) and isinstance(denied, e.AccessDenied)
    required = e.from_response(400, {"error": "", "error_description": "The required field 'Lead Name' is missing."})
    assert type(required) is e.CrmError
    assert str(required) == "The required field 'Lead Name' is missing."


@pytest.mark.parametrize("cls, retryable", [
    (e.QueryLimitExceeded, True), (e.OperationTimeLimit, True), (e.OverloadLimit, True),
    (e.ServerError, True), (e.NetworkError, True),
    (e.ExpiredToken, False), (e.InvalidGrant, False), (e.CrmError, False), (e.AccessDenied, False),
])
def test_retryable_flags(cls, retryable):
    assert cls().retryable is retryable


def test_families():
    assert issubclass(e.ExpiredToken, e.AuthError)
    assert issubclass(e.InsufficientScope, e.AccessDenied)
    assert issubclass(e.QueryLimitExceeded, e.RateLimited)
    assert issubclass(e.BatchLengthExceeded, e.BatchError)
    assert issubclass(e.PortalNeedsReauth, e.AuthError)


def test_unknown_codes_and_bodies():
    assert type(e.from_response(400, {"error": "SOMETHING_NEW", "error_description": "x"})) is e.BitrixError
    assert type(e.from_response(502, "<html>Bad gateway</html>")) is e.ServerError
    assert type(e.from_response(503, {"error": "SOMETHING_NEW"})) is e.ServerError
    assert type(e.from_response(404, None)) is e.MethodNotFound
    assert type(e.from_response(400, {"error": "ERROR_BATCH_LENGTH_EXCEEDED"})) is e.BatchLengthExceeded
    assert type(e.from_response(405, {"error": "ERROR_BATCH_METHOD_NOT_ALLOWED"})) is e.BatchMethodNotAllowed


def test_errors_survive_pickling():
    error = e.OperationTimeLimit("OPERATION_TIME_LIMIT", "blocked", 429, "crm.lead.list", reset_at=123.0)
    copy = pickle.loads(pickle.dumps(error))
    assert (type(copy), copy.code, copy.http_status, copy.method, copy.reset_at) == (
        e.OperationTimeLimit, "OPERATION_TIME_LIMIT", 429, "crm.lead.list", 123.0)
    plain = pickle.loads(pickle.dumps(e.CrmError("", "Not valid", 400, "crm.deal.add")))
    assert str(plain) == "Not valid"
