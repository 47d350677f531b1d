"""POST|GET /hooks/uis/<hook_token>: UIS notifications, stored before the 2xx and processed at once."""
from __future__ import annotations

import hashlib
import json
import logging

from flask import Blueprint, current_app, jsonify, request
from sqlalchemy.exc import OperationalError, SQLAlchemyError

from bx_app import intake
from bx_app.extensions import csrf, db
from bx_app.models import Credential, Event
from bx_app.models.event import EventStatus
from bx_app.uis.notifications import NotificationInvalid, parse_notification

log = logging.getLogger(__name__)
bp = Blueprint("hooks", __name__)


def _credential_for(hook_token: str) -> tuple[int, int] | None:
    """The credential and portal of a hook token, read each time (one indexed query).

    No per-process cache: a token regenerated or a credential removed in one process must stop the
    pushes in every other process at once.
    """
    if len(hook_token) > 64 or "\x00" in hook_token:  # cannot be a token; PostgreSQL refuses NUL in text
        return None
    row = (Credential.query.filter_by(hook_token=hook_token)
           .with_entities(Credential.id, Credential.portal_id).one_or_none())
    return None if row is None else (row.id, row.portal_id)


# UIS ids are integers far below this; longer ones cannot be stored (Event.external_id is 64 characters).
MAX_ID_DIGITS = 32


def _nul_field(values) -> str | None:
    """The name of a field holding a NUL character (PostgreSQL cannot store it in text), if any."""
    if isinstance(values, dict):
        for key, value in values.items():
            if "\x00" in str(key):
                return repr(key)
            if isinstance(value, str) and "\x00" in value:
                return str(key)
            found = _nul_field(value) if isinstance(value, dict | list) else None
            if found:
                return f"{key}.{found}"
    elif isinstance(values, list):
        for item in values:
            if isinstance(item, str) and "\x00" in item:
                return "[]"
            found = _nul_field(item) if isinstance(item, dict | list) else None
            if found:
                return found
    return None


class BodyRejected(Exception):
    def __init__(self, status: int, reason: str):
        super().__init__(reason)
        self.status = status
        self.reason = reason


def _notification_values() -> dict:
    """The notification's variables from a JSON body, a form body or the query string (UIS allows all)."""
    values: dict = dict(request.args.items())
    if request.method != "POST":
        return _without_nul(values)
    if request.mimetype in ("application/x-www-form-urlencoded", "multipart/form-data"):
        raw = request.get_data(cache=True, parse_form_data=True)
    else:
        raw = request.get_data(cache=True)
    if len(raw) > current_app.config["HOOK_MAX_BYTES"]:
        raise BodyRejected(413, "body too large (max 1 MB)")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BodyRejected(400, f"body is not valid UTF-8 (byte {exc.start})") from exc
    if request.mimetype in ("application/x-www-form-urlencoded", "multipart/form-data"):
        values.update(request.form.items())
        return _without_nul(values)
    if not raw:
        return _without_nul(values)
    stripped = text.lstrip()
    if request.mimetype == "application/json" or stripped.startswith(("{", "[")):
        try:
            body = json.loads(text)
        except ValueError as exc:
            raise BodyRejected(400, f"malformed JSON: {exc}") from exc
        except RecursionError:
            raise BodyRejected(400, f"JSON nested deeper than {MAX_JSON_DEPTH} levels") from None
        if not isinstance(body, dict):
            raise BodyRejected(400, "the JSON body must be an object")
        if _depth_exceeds(body, MAX_JSON_DEPTH):
            raise BodyRejected(400, f"JSON nested deeper than {MAX_JSON_DEPTH} levels")
        values.update(body)
        return _without_nul(values)
    raise BodyRejected(415, f"unsupported content type: {request.mimetype or 'none'}")


# UIS's deepest body (a chat's messages with their fields) is four levels; anything far deeper is not UIS,
# and json/the JSON column would recurse through it (RecursionError) on the way to the database.
MAX_JSON_DEPTH = 32


def _depth_exceeds(value, limit: int) -> bool:
    """Whether a parsed JSON value nests deeper than ``limit`` (iterative: no recursion to exhaust)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False


def _without_nul(values: dict) -> dict:
    field = _nul_field(values)
    if field:
        raise BodyRejected(400, f"the field {field} contains a NUL character")
    return values


def _journal_rejection(credential_id: int, reason: str) -> None:
    """A bad notification for a known credential leaves a trace in its journal (once per distinct body)."""
    digest = hashlib.sha256(request.get_data(cache=True) + request.query_string).hexdigest()[:24]
    recorded = intake.record_event(
        credential_id, "notification", "rejected", digest,
        {"reason": reason, "content_type": request.mimetype,
         # NUL cannot be stored in PostgreSQL text: the journal shows it as U+FFFD.
         "body": request.get_data(as_text=True, cache=True)[:2000].replace("\x00", "\ufffd")},
        source="push")
    if recorded.created:
        Event.query.filter_by(id=recorded.event_id).update(
            {"status": EventStatus.SKIPPED, "reason": f"rejected: {reason}"})
        db.session.commit()


@bp.errorhandler(OperationalError)
def database_unavailable(exc: OperationalError):
    """The database is down or restarting: nothing was stored, so say so with a status UIS retries."""
    log.warning("hook refused, database unavailable: %s", exc.__class__.__name__)
    try:
        db.session.rollback()
    except SQLAlchemyError:  # the connection died with the server: drop it without a rollback
        db.session().invalidate()
    response = jsonify(error="unavailable", reason="temporarily unable to store the notification, retry")
    response.headers["Retry-After"] = "5"
    return response, 503


@bp.route("/hooks/uis/<hook_token>", methods=["GET", "POST"])
@csrf.exempt
def uis_notification(hook_token: str):
    # Check the size before anything else touches the body.
    if (request.content_length or 0) > current_app.config["HOOK_MAX_BYTES"]:
        return jsonify(error="payload_too_large", reason="body too large (max 1 MB)"), 413
    found = _credential_for(hook_token)
    if found is None:
        return jsonify(error="not_found", reason="unknown hook token"), 404
    credential_id, portal_id = found
    try:
        notification = parse_notification(_notification_values())
    except BodyRejected as exc:
        _journal_rejection(credential_id, exc.reason)
        return jsonify(error="bad_request", reason=exc.reason), exc.status
    except NotificationInvalid as exc:
        reason = str(exc)
        _journal_rejection(credential_id, reason)
        return jsonify(error="bad_request", reason=reason), 400
    if len(notification.external_id) > MAX_ID_DIGITS:
        reason = f"the identifier has more than {MAX_ID_DIGITS} digits"
        _journal_rejection(credential_id, reason)
        return jsonify(error="bad_request", reason=reason), 400
    recorded = intake.record_event(
        credential_id, notification.kind, notification.stage, notification.external_id,
        notification.fields, source="push", occurred_at=notification.occurred_at)
    if recorded.created:
        intake.enqueue_event(recorded.event_id, portal_id)
    # No event id in the answer: ids are global, and their growth would tell anyone holding one hook
    # address how many events all the other tenants receive.
    return jsonify(result="accepted", duplicate=not recorded.created), 200
