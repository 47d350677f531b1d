"""The portal's REST endpoint: auth, the leaky bucket, injected faults, method dispatch and `batch`."""
from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import parse_qsl

from . import php_query
from .crm import OWNER_TYPES, ListReply, as_int, iso, paged, param
from .crm_catalog import CATEGORIES, fields_of
from .limits import DELAY_AFTER
from .rest_error import RestError
from .state import APP_CODE, APP_VERSION, KNOWN_EVENTS, PortalState, SandboxState
from .tokens import AccessGrant

BATCH_LIMIT = 50
_REFERENCE = re.compile(r"\$result((?:\[[^\[\]]*\])+)")
_NUMERIC = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")


@dataclass
class Call:
    """One method call in progress: who calls, on which portal."""

    state: SandboxState
    portal: PortalState
    grant: AccessGrant

    @property
    def user_id(self) -> int:
        return self.grant.user_id

    @property
    def now(self) -> float:
        return self.state.now()


@dataclass
class Answer:
    status: int
    body: dict | str

    @property
    def is_json(self) -> bool:
        return isinstance(self.body, dict)


Handler = Callable[[Call, dict], object]
METHODS: dict[str, tuple[str | None, Handler]] = {}


def method(name: str, scope: str | None = None):
    def register(handler: Handler) -> Handler:
        METHODS[name.lower()] = (scope, handler)
        return handler
    return register


def time_block(start: float, finish: float, *, with_operating: bool = True) -> dict:
    block = {"start": round(start, 4), "finish": round(finish, 4), "duration": round(finish - start, 4),
             "processing": round((finish - start) * 0.8, 4), "date_start": iso(start), "date_finish": iso(finish)}
    if with_operating:
        block["operating_reset_at"] = int(start) + 600
    block["operating"] = 0
    return block


def php_array(mapping: dict):
    """json_encode of a PHP array: empty -> [], keys 0..n-1 in order -> list, else object."""
    if not mapping:
        return []
    if list(mapping) == [str(i) for i in range(len(mapping))]:
        return list(mapping.values())
    return mapping


# --- parameters -------------------------------------------------------------------------------------
def request_params(http_method: str, query: str, content_type: str, body: bytes, form_pairs) -> dict:
    """Query (PHP brackets) plus the body: JSON, or form fields. A GET's body is ignored, like Bitrix24."""
    params = php_query.parse_query(query)
    if http_method == "GET" or not body and not form_pairs:
        return params
    if "json" in content_type or (not form_pairs and body.lstrip()[:1] in (b"{", b"[")):
        try:
            data = json.loads(body.decode("utf-8") or "{}")
        except ValueError as exc:
            raise RestError(400, "INVALID_REQUEST", "Invalid JSON body") from exc
        if isinstance(data, dict):
            params.update(data)
        return params
    params.update(php_query.parse_pairs(form_pairs))
    return params


def method_name(path: str) -> str:
    name = path.strip("/")
    for suffix in (".json", ".xml"):
        if name.lower().endswith(suffix):
            name = name[: -len(suffix)]
    return name.lower()


# --- the HTTP request -------------------------------------------------------------------------------
def serve(state: SandboxState, portal: PortalState, name: str, params: dict) -> Answer:
    """One HTTP request to /rest/<name>: counted, limited, faulted, authenticated, run (its answer maybe delayed)."""
    delays = any(f.error == DELAY_AFTER for f in portal.faults.faults)
    text = json.dumps(params, ensure_ascii=False, default=str) if delays else ""
    answer = _serve(state, portal, name, params)
    with state.lock:
        delay = portal.faults.delay_after(name, text) if answer.status == 200 else 0.0
        if delay:
            portal.counters.faults_served += 1
    if delay:
        time.sleep(delay)  # outside the lock: the portal keeps serving others meanwhile
    return answer


def _serve(state: SandboxState, portal: PortalState, name: str, params: dict) -> Answer:
    start = state.now()
    with state.lock:
        portal.counters.rest_requests += 1
        portal.counters.by_method[name] += 1
        if not portal.bucket.admit(start):
            portal.counters.query_limit_exceeded += 1
            portal.counters.errors["QUERY_LIMIT_EXCEEDED"] += 1
            return _error_answer(RestError.from_catalog("QUERY_LIMIT_EXCEEDED"))
        fault = portal.faults.strike(name, outer=True)
        if fault:
            portal.counters.faults_served += 1
            error = RestError.from_catalog(fault)
            _count_error(portal, error)
            return _error_answer(error)
        try:
            call = Call(state, portal, authenticate(state, portal, params.pop("auth", None)))
            portal.counters.rest_calls += 1
            reply = run(call, name, params)
        except RestError as error:
            _count_error(portal, error)
            return _error_answer(error)
        return Answer(200, _success_body(reply, start, state.now()))


def _count_error(portal: PortalState, error: RestError) -> None:
    portal.counters.errors[error.error or error.description or str(error.status)] += 1
    if error.error == "QUERY_LIMIT_EXCEEDED":
        portal.counters.query_limit_exceeded += 1


def _error_answer(error: RestError) -> Answer:
    if error.raw_body is not None:
        return Answer(error.status, error.raw_body)
    return Answer(error.status, error.body())


def _success_body(reply, start: float, finish: float) -> dict:
    if isinstance(reply, ListReply):
        body: dict = {"result": reply.result}
        if reply.next is not None:
            body["next"] = reply.next
        if reply.total is not None:
            body["total"] = reply.total
    else:
        body = {"result": reply}
    body["time"] = time_block(start, finish)
    return body


def authenticate(state: SandboxState, portal: PortalState, token) -> AccessGrant:
    if not token or not isinstance(token, str):
        raise RestError.from_catalog("NO_AUTH_FOUND")
    grant = state.tokens.by_access.get(token)
    if grant is None or grant.port != portal.port:
        raise RestError.from_catalog("invalid_token")
    if grant.access_revoked == "uninstalled":
        raise RestError.from_catalog("invalid_token" if portal.installed else "ERROR_OAUTH")
    # A token whose refresh token was used (rotation) dies with it; it reads as expired.
    if grant.access_revoked or state.now() >= grant.expires_at:
        raise RestError.from_catalog("expired_token")
    user = portal.users.get(grant.user_id)
    if user is None or not user["ACTIVE"]:
        raise RestError.from_catalog("authorization_error")
    return grant


def run(call: Call, name: str, params: dict):
    entry = METHODS.get(name)
    if entry is None:
        raise RestError(404, "ERROR_METHOD_NOT_FOUND", "Method not found!")
    scope, handler = entry
    if scope and scope not in call.portal.scope.split(","):
        raise RestError.from_catalog("insufficient_scope")
    return handler(call, params)


# --- batch ------------------------------------------------------------------------------------------
@method("batch")
def batch(call: Call, params: dict):
    commands = param(params, "cmd") or {}
    if isinstance(commands, list):
        commands = {str(i): c for i, c in enumerate(commands)}
    if not isinstance(commands, dict):
        raise RestError(400, "INVALID_REQUEST", "Parameter 'cmd' must be array")
    if len(commands) > BATCH_LIMIT:
        raise RestError(400, "ERROR_BATCH_LENGTH_EXCEEDED", "Max batch length exceeded")
    halt = str(param(params, "halt", 0)).lower() in ("1", "true", "y")
    results: dict = {}
    errors: dict = {}
    totals: dict = {}
    nexts: dict = {}
    times: dict = {}
    for key, command in commands.items():
        key = str(key)
        start = call.now
        try:
            sub_name, sub_params = parse_command(str(command), results)
            if sub_name == "batch":
                raise RestError(405, "ERROR_BATCH_METHOD_NOT_ALLOWED", "Method is not allowed for batch usage")
            call.portal.counters.rest_calls += 1
            call.portal.counters.by_method[sub_name] += 1
            fault = call.portal.faults.strike(sub_name, outer=False)
            if fault:
                call.portal.counters.faults_served += 1
                raise RestError.from_catalog(fault)
            reply = run(call, sub_name, sub_params)
        except RestError as error:
            _count_error(call.portal, error)
            errors[key] = {"error": error.error, "error_description": error.description}
            if halt:
                break
            continue
        if isinstance(reply, ListReply):
            results[key] = reply.result
            if reply.total is not None:
                totals[key] = reply.total
            if reply.next is not None:
                nexts[key] = reply.next
        else:
            results[key] = reply
        times[key] = time_block(start, call.now, with_operating=False)
    return {"result": php_array(results), "result_error": php_array(errors), "result_total": php_array(totals),
            "result_next": php_array(nexts), "result_time": php_array(times)}


def parse_command(command: str, results: dict) -> tuple[str, dict]:
    """`method?query` of one batch command, its `$result[...]` references resolved against the results so far
    (§5; the REST module's own rules, see `resolve_reference` and `substitute`)."""
    name, _, query = command.partition("?")
    pairs: list[tuple[str, object]] = [(key, substitute(value, results))
                                       for key, value in parse_qsl(query, keep_blank_values=True)]
    return method_name(name), php_query.parse_pairs(pairs)


_MISSING = object()


def resolve_reference(keys: list[str], results: dict):
    """Walk `$result[k1][k2]...` from the results array while each key exists; at the first missing key stop:
    the answer is the last level reached (a whole result, `[]`, or even every result so far)."""
    level = php_array(results)
    for key in keys:
        child = _child(level, key)
        if child is _MISSING:
            break
        level = child
    return level


def _child(level, key: str):
    if isinstance(level, dict):
        return level.get(key, _MISSING)
    if isinstance(level, list) and key.isdigit() and int(key) < len(level):
        return level[int(key)]
    return _MISSING  # a scalar has no keys


def substitute(value: str, results: dict):
    """A parameter value that is one whole reference becomes the referenced value itself, structure and all
    (`filter[@ID]=$result[dup][LEAD]` -> a list). Inside a longer text a referenced number becomes its
    digits; anything else (a structure, a word, null, a flag) leaves the reference text as it was."""
    whole = _REFERENCE.fullmatch(value)
    if whole:
        return resolve_reference(_keys(whole), results)
    return _REFERENCE.sub(lambda match: _as_text(resolve_reference(_keys(match), results), match.group(0)), value)


def _keys(match: re.Match) -> list[str]:
    return re.findall(r"\[([^\[\]]*)\]", match.group(0))


def _as_text(value, literal: str) -> str:
    if isinstance(value, bool) or value is None:
        return literal
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, str) and _NUMERIC.fullmatch(value.strip()):
        return value  # "1045": classic methods give ids as numeric strings
    return literal


# --- common methods ---------------------------------------------------------------------------------
@method("app.info")
def app_info(call: Call, params: dict):
    return {"ID": 27, "CODE": APP_CODE, "VERSION": APP_VERSION, "STATUS": "L", "INSTALLED": call.portal.installed,
            "PAYMENT_EXPIRED": "N", "DAYS": None, "LANGUAGE_ID": call.portal.language, "LICENSE": "ru_pro100",
            "LICENSE_TYPE": "pro100", "LICENSE_FAMILY": "pro"}


@method("scope")
def scope(call: Call, params: dict):
    return call.portal.scope.split(",")


@method("profile")
def profile(call: Call, params: dict):
    user = call.portal.users[call.user_id]
    return {"ID": user["ID"], "ADMIN": call.portal.is_admin(call.user_id), "NAME": user["NAME"],
            "LAST_NAME": user["LAST_NAME"], "PERSONAL_GENDER": user["PERSONAL_GENDER"], "TIME_ZONE": "Europe/Moscow"}


@method("user.admin")
def user_admin(call: Call, params: dict):
    return call.portal.is_admin(call.user_id)


@method("user.current", scope="user")
def user_current(call: Call, params: dict):
    return dict(call.portal.users[call.user_id])


_USER_GET_CONTROL = {"sort", "order", "start", "select", "filter", "admin_mode", "auth"}


@method("user.get", scope="user")
def user_get(call: Call, params: dict):
    conditions = {k: v for k, v in params.items() if k.lower() not in _USER_GET_CONTROL}
    nested = param(params, "filter")
    if isinstance(nested, dict):
        conditions.update(nested)
    users = [u for u in call.portal.users.values() if _user_matches(u, conditions)]
    sort_key = str(param(params, "sort") or "ID").upper()
    descending = str(param(params, "order") or "ASC").upper() == "DESC"
    users.sort(key=lambda u: (as_int(u.get(sort_key)) is None, as_int(u.get(sort_key)) or 0, str(u.get(sort_key))),
               reverse=descending)
    return paged(users, param(params, "start", 0), dict)


def _user_matches(user: dict, conditions: dict) -> bool:
    for raw_key, expected in conditions.items():
        key = str(raw_key).upper().lstrip("=")
        if key == "NAME_SEARCH":
            needle = str(expected).lower()
            if not any(needle in str(user.get(k) or "").lower() for k in ("NAME", "LAST_NAME", "SECOND_NAME")):
                return False
            continue
        if key == "ACTIVE":
            want = str(expected).lower() in ("true", "y", "1")
            if user["ACTIVE"] != want:
                return False
            continue
        actual = user.get(key)
        options = expected if isinstance(expected, list) else [expected]
        if isinstance(actual, list):
            if not any(str(a) == str(o) for a in actual for o in options):
                return False
        elif not any(str(actual) == str(o) for o in options):
            return False
    return True


# --- events and placements ----------------------------------------------------------------------------
@method("event.bind")
def event_bind(call: Call, params: dict):
    event = str(param(params, "event") or "").upper()
    handler = str(param(params, "handler") or "")
    if event not in KNOWN_EVENTS:
        raise RestError(400, "ERROR_EVENT_NOT_FOUND", "Event not found")
    if not handler.startswith(("http://", "https://")):
        raise RestError(400, "ERROR_WRONG_HANDLER_URL", "Wrong handler URL")
    auth_type = param(params, "auth_type")
    offline = str(param(params, "event_type") or "online").lower() == "offline"
    if (auth_type not in (None, "", "0", 0) or offline) and not call.portal.is_admin(call.user_id):
        raise RestError(403, "ACCESS_DENIED",
                        "Access denied! Event binding with AUTH_TYPE requires administrator access rights")
    if any(b["event"] == event and b["handler"] == handler for b in call.portal.bound_events):
        raise RestError(400, "ERROR_HANDLER_ALREADY_EXIST", "Handler already exists!")
    call.portal.bind_event(event, handler, str(auth_type or "0"), 1 if offline else 0)
    return True


@method("event.get")
def event_get(call: Call, params: dict):
    return [{"event": b["event"], "handler": b["handler"], "auth_type": b["auth_type"], "offline": b["offline"]}
            for b in call.portal.bound_events]


@method("event.unbind")
def event_unbind(call: Call, params: dict):
    event = str(param(params, "event") or "").upper()
    handler = param(params, "handler")
    before = len(call.portal.bound_events)
    call.portal.bound_events = [b for b in call.portal.bound_events
                                if not (b["event"] == event and (handler in (None, "") or b["handler"] == handler))]
    return {"count": before - len(call.portal.bound_events)}


@method("placement.bind", scope="placement")
def placement_bind(call: Call, params: dict):
    placement, handler = param(params, "PLACEMENT"), param(params, "HANDLER")
    if not placement:
        raise RestError(200, "ERROR_ARGUMENT", "Argument 'PLACEMENT' is null or empty", argument="PLACEMENT")
    if not handler:
        raise RestError(200, "ERROR_ARGUMENT", "Argument 'HANDLER' is null or empty", argument="HANDLER")
    call.portal.placements.append({"placement": str(placement).upper(), "handler": handler,
                       "title": str(param(params, "TITLE") or ""), "description": "", "options": []})
    return True


@method("placement.get", scope="placement")
def placement_get(call: Call, params: dict):
    return list(call.portal.placements)


# --- CRM --------------------------------------------------------------------------------------------
def _crm_entity_methods(entity: str) -> None:
    method(f"crm.{entity}.add", "crm")(lambda c, p: c.portal.crm.add(entity, p, c.user_id, c.now))
    method(f"crm.{entity}.update", "crm")(lambda c, p: c.portal.crm.update(entity, p, c.user_id, c.now))
    method(f"crm.{entity}.get", "crm")(lambda c, p: c.portal.crm.get(entity, p))
    method(f"crm.{entity}.list", "crm")(lambda c, p: c.portal.crm.list(entity, p))
    method(f"crm.{entity}.fields", "crm")(
        lambda c, p: fields_of(entity, c.portal.crm.required_custom.get(entity, set())))


for _entity in ("lead", "deal", "contact"):
    _crm_entity_methods(_entity)

method("crm.duplicate.findbycomm", "crm")(lambda c, p: c.portal.crm.find_by_comm(p))
method("crm.activity.add", "crm")(lambda c, p: c.portal.crm.activity_add(p, c.user_id, c.now))
method("crm.activity.list", "crm")(lambda c, p: c.portal.crm.activity_list(p))
method("crm.timeline.comment.list", "crm")(lambda c, p: c.portal.crm.timeline_comment_list(p))
method("crm.timeline.comment.add", "crm")(lambda c, p: c.portal.crm.timeline_comment_add(p, c.user_id, c.now))
method("crm.status.list", "crm")(lambda c, p: c.portal.crm.status_list(p))
method("crm.status.add", "crm")(lambda c, p: c.portal.crm.status_add(p))
method("crm.settings.mode.get", "crm")(lambda c, p: c.portal.crm.mode)


@method("crm.category.list", "crm")
def category_list(call: Call, params: dict):
    entity_type = as_int(param(params, "entityTypeId"))
    if entity_type == 2:
        return ListReply({"categories": [dict(c) for c in CATEGORIES]}, len(CATEGORIES))
    if entity_type in OWNER_TYPES:
        raise RestError(400, "ENTITY_TYPE_NOT_SUPPORTED",
                        f"Entity type `{OWNER_TYPES[entity_type].upper()}` is not supported")
    raise RestError(400, "NOT_FOUND", "Smart process not found")


@method("im.notify.system.add", "im")
def notify_system(call: Call, params: dict):
    return call.portal.crm.notify(params, call.user_id, call.now, call.portal.users, personal=False)


@method("im.notify.personal.add", "im")
def notify_personal(call: Call, params: dict):
    return call.portal.crm.notify(params, call.user_id, call.now, call.portal.users, personal=True)


# --- telephony (§11; method names are case-insensitive: externalCall and externalcall alike) ----------------
method("telephony.externalcall.register", "telephony")(
    lambda c, p: c.portal.telephony.register(p, c.portal.crm, c.portal.users, c.now))
method("telephony.externalcall.finish", "telephony")(
    lambda c, p: c.portal.telephony.finish(p, c.portal.crm, c.portal.users, c.now))
method("telephony.externalcall.attachrecord", "telephony")(
    lambda c, p: c.portal.telephony.attach_record(
        p, c.portal.crm, f"{c.portal.client_endpoint}upload.json?auth={c.grant.access_token}"))
method("telephony.externalline.add", "telephony")(lambda c, p: c.portal.telephony.line_add(p))
method("telephony.externalline.get", "telephony")(lambda c, p: c.portal.telephony.line_get(p))
method("telephony.externalline.update", "telephony")(lambda c, p: c.portal.telephony.line_update(p))
method("telephony.externalline.delete", "telephony")(lambda c, p: c.portal.telephony.line_delete(p))
