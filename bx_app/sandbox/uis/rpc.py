"""The sandbox's Data API: JSON-RPC envelope, auth, allow-list, limits, report parameters and filters."""
from __future__ import annotations

import ipaddress
import json
import re
import time
from calendar import monthrange
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from bx_app.sandbox.uis import state as st

CODES = {
    "parse_error": -32700, "invalid_request": -32600, "method_not_found": -32601,
    "required_parameter_missed": -32602, "invalid_parameter_value": -32602, "data_type_error": -32602,
    "unexpected_parameters": -32602, "invalid_parameters_combination": -32602, "filter_prohibited": -32602,
    "sort_prohibited": -32602, "date_interval_limit_reached": -32602, "internal_error": -32603,
    "access_token_expired": -32001, "access_token_blocked": -32001, "access_token_invalid": -32001,
    "auth_error": -32001, "ip_not_whitelisted": -32003, "forbidden": -32003,
    "method_component_disabled": -32008, "account_inactive": -32009, "limit_exceeded": -32029,
    "batch_operations_not_supported": -32099, "notifications_not_supported": -32099,
}
MESSAGES = {
    "parse_error": "Parse error", "invalid_request": "Invalid Request",
    "method_not_found": "The method does not exist / is not available",
    "required_parameter_missed": "The required parameter has been missed",
    "invalid_parameter_value": "Invalid parameter value", "data_type_error": "Invalid data type",
    "unexpected_parameters": "Unexpected parameters", "filter_prohibited": "Filter by parameter is prohibited",
    "sort_prohibited": "Sort by parameter is prohibited", "internal_error": "Internal error",
    "access_token_expired": "Access token has been expired", "access_token_blocked": "Access token has been blocked",
    "access_token_invalid": "Access token is invalid", "auth_error": "Login or password is wrong",
    "forbidden": "Forbidden", "account_inactive": "Account is inactive",
    "method_component_disabled": "You need at least one of the following components to access this method: "
                                 "consultant",
    "batch_operations_not_supported": "Batch operations are not supported",
    "notifications_not_supported": "Notifications are not supported, the id is required",
}
OPERATORS = {"=", "!=", "<", ">", "<=", ">=", "in", "like", "regexp"}
COMMON_PARAMS = {"access_token", "user_id", "limit", "offset", "fields", "filter", "sort"}
MAX_LIMIT, MAX_OFFSET = 10_000, 100_000


class RpcError(Exception):
    def __init__(self, mnemonic: str, message: str | None = None, field: str | None = None, value=None,
                 params: dict | None = None):
        super().__init__(mnemonic)
        self.mnemonic = mnemonic
        self.code = CODES.get(mnemonic, -32602)
        self.message = message or MESSAGES.get(mnemonic, mnemonic)
        self.field, self.value, self.params = field, value, params
        self.limits: dict | None = None  # overrides the state's limits in the reply

    def envelope(self, request_id, limits: dict | None) -> dict:
        data: dict = {"mnemonic": self.mnemonic}
        if self.field is not None:
            data["field"] = self.field
        if self.value is not None:
            data["value"] = self.value
        if self.params is not None:
            data["params"] = self.params
        data["metadata"] = {"limits": limits} if limits else {}
        return {"jsonrpc": "2.0", "id": request_id, "error": {"code": self.code, "message": self.message,
                                                               "data": data}}


@dataclass
class Report:
    rows: str  # attribute of UisState holding the rows
    fields: list[str]
    defaults: list[str]
    date_field: str | None = None  # None: no date window
    dates_required: bool = True
    max_span: str | None = "3 months"
    not_filterable: set[str] = field(default_factory=set)
    filterable: set[str] | None = None  # None: every field but not_filterable
    sortable: set[str] | None = None
    extra_params: set[str] = field(default_factory=set)


REPORTS = {
    "get.offline_messages_report": Report("offline_messages", st.OFFLINE_FIELDS, st.OFFLINE_DEFAULTS,
                                          "date_time", extra_params={"include_tech_offline_messages"},
                                          not_filterable={"tags", "properties"}),
    "get.chats_report": Report("chats", st.CHAT_FIELDS, st.CHAT_DEFAULTS, "date_time",
                               not_filterable={"date_time", "tags"}),
    "get.chat_messages_report": Report("chat_messages", st.MESSAGE_FIELDS, st.MESSAGE_DEFAULTS, "date_time",
                                       dates_required=False, max_span="30 days",
                                       filterable={"id", "chat_id", "channel_id", "channel_type", "employee_id"},
                                       sortable={"date_time", "channel_type", "employee_id"},
                                       extra_params={"chat_id", "chat_ids"}),
    "get.calls_report": Report("calls", st.CALL_FIELDS, st.CALL_DEFAULTS, "start_time",
                               extra_params={"include_ongoing_calls"}, not_filterable=st.CALL_NOT_FILTERABLE,
                               sortable=st.CALL_SORTABLE),
    "get.call_legs_report": Report("call_legs", st.CALL_LEG_FIELDS, st.CALL_LEG_DEFAULTS, "start_time",
                                   not_filterable=st.CALL_LEG_NOT_FILTERABLE, sortable=st.CALL_LEG_SORTABLE),
    "get.scenarios": Report("scenarios", [], [], None),
    "get.virtual_numbers": Report("virtual_numbers", [], [], None),
    "get.chat_channels": Report("channels", [], [], None),
    "get.employees": Report("employees", [], [], None),
    "get.sites": Report("sites", [], [], None),
}
OTHER_METHODS = {"get.account", "get.visitors", "login.user", "logout.user"}
METHODS = set(REPORTS) | OTHER_METHODS


def handle(state: st.UisState, raw: bytes, remote_ip: str | None) -> dict:
    """One HTTP body in, one JSON-RPC reply out (never raises)."""
    request_id = None
    try:
        try:
            body = json.loads(raw.decode("utf-8"))
        except (ValueError, UnicodeDecodeError) as exc:
            raise RpcError("parse_error") from exc
        if isinstance(body, list):
            raise RpcError("batch_operations_not_supported")
        if not isinstance(body, dict):
            raise RpcError("invalid_request")
        request_id = body.get("id")
        if body.get("jsonrpc") != "2.0" or not isinstance(body.get("method"), str):
            raise RpcError("invalid_request")
        if "id" not in body or body["id"] is None:
            raise RpcError("notifications_not_supported")
        method = body["method"]
        params = body.get("params", {})
        if not isinstance(params, dict):
            raise RpcError("data_type_error", field="params")
        with state.lock:
            state.counters[method] += 1
            if method not in METHODS:
                raise RpcError("method_not_found", value=method)
            _inject_failure(state, method)
            _authenticate(state, method, params)
            _check_ip(state, remote_ip)
            if method in state.disabled_methods:
                raise RpcError("method_component_disabled", params={"components": "consultant"})
            _check_limits(state)
            data, metadata = _dispatch(state, method, params)
            state.minute.charge()
            state.day.charge()
            metadata["limits"] = state.limits()
            return {"jsonrpc": "2.0", "id": request_id, "result": {"data": data, "metadata": metadata}}
    except RpcError as error:
        with state.lock:
            state.errors[error.mnemonic] += 1
            return error.envelope(request_id, error.limits or state.limits())


def _inject_failure(state: st.UisState, method: str) -> None:
    for rule in state.fail_next:
        if rule.get("method") in (None, method) and rule.get("count", 0) > 0:
            rule["count"] -= 1
            state.fail_next = [r for r in state.fail_next if r.get("count", 0) > 0]
            mnemonic = rule.get("mnemonic", "internal_error")
            if mnemonic == "limit_exceeded":
                # One-shot: the reply says the budget is spent, the real budget stays as it is.
                kind = rule.get("limit_type", "minute")
                error = _limit_error(kind, (state.day if kind == "day" else state.minute).limit)
                error.limits = dict(state.limits(), **{f"{kind}_remaining": 0,
                                                       f"{kind}_reset": int(rule.get("reset", 5))})
                raise error
            raise RpcError(mnemonic, message=rule.get("message"))


def _authenticate(state: st.UisState, method: str, params: dict) -> None:
    if method == "login.user":
        return
    token = params.get("access_token")
    if not token:
        raise RpcError("required_parameter_missed", field="access_token")
    info = state.tokens.get(token)
    if info is None:
        raise RpcError("access_token_invalid", field="access_token", value=token)
    if info["status"] == "blocked":
        raise RpcError("access_token_blocked", field="access_token")
    if info["status"] == "expired" or (info.get("expire_at") and info["expire_at"] < time.time()):
        raise RpcError("access_token_expired", field="access_token", value=token)


def _check_ip(state: st.UisState, remote_ip: str | None) -> None:
    if not state.ip_allowlist_enabled:
        return
    ip = state.caller_ip or remote_ip or "0.0.0.0"
    for allowed in state.allowed_ips:
        try:
            if ipaddress.ip_address(ip) in ipaddress.ip_network(allowed, strict=False):
                return
        except ValueError:
            continue
    raise RpcError("ip_not_whitelisted", message=f"Your IP {ip} is not whitelisted", params={"ip": ip})


def _limit_error(kind: str, limit: int) -> RpcError:
    return RpcError("limit_exceeded", message=f"Limit per {kind} has been exceeded. Value of current limit per "
                                              f"{kind} is {limit}",
                    params={"limit_type": kind, "limit_max_value": limit})


def _check_limits(state: st.UisState) -> None:
    if state.day.remaining <= 0:
        raise _limit_error("day", state.day.limit)
    if state.minute.remaining <= 0:
        raise _limit_error("minute", state.minute.limit)


def _dispatch(state: st.UisState, method: str, params: dict) -> tuple[object, dict]:
    if method == "login.user":
        _only(params, {"login", "password"})
        for name in ("login", "password"):
            if not params.get(name):
                raise RpcError("required_parameter_missed", field=name)
        if state.users.get(params["login"]) != params["password"]:
            raise RpcError("auth_error")
        return state.new_session(), {}
    if method == "logout.user":
        _only(params, {"access_token"})
        state.tokens.pop(params["access_token"], None)
        return {}, {}
    if method == "get.account":
        _only(params, {"access_token", "user_id"})
        return [dict(state.account)], {}
    if method == "get.visitors":
        _only(params, {"access_token", "user_id", "ids"})
        ids = params.get("ids")
        if ids is None:
            raise RpcError("required_parameter_missed", field="ids")
        if not isinstance(ids, list) or not all(isinstance(i, int) and not isinstance(i, bool) for i in ids):
            raise RpcError("data_type_error", field="ids")
        return [dict(state.visitors[i]) for i in ids if i in state.visitors], {}
    return _report(state, REPORTS[method], params)


def _only(params: dict, allowed: set[str]) -> None:
    unexpected = sorted(set(params) - allowed)
    if unexpected:
        raise RpcError("unexpected_parameters", field=unexpected[0], value=unexpected[0])


def parse_time(value, name: str) -> datetime:
    if not isinstance(value, str):
        raise RpcError("data_type_error", field=name, value=value)
    try:
        return datetime.strptime(value, st.TIME_FORMAT)
    except ValueError as exc:
        raise RpcError("invalid_parameter_value", field=name, value=value) from exc


def add_months(moment: datetime, months: int) -> datetime:
    month_index = moment.month - 1 + months
    year, month = moment.year + month_index // 12, month_index % 12 + 1
    return moment.replace(year=year, month=month, day=min(moment.day, monthrange(year, month)[1]))


def _report(state: st.UisState, report: Report, params: dict) -> tuple[list, dict]:
    allowed = COMMON_PARAMS | report.extra_params | ({"date_from", "date_till"} if report.date_field else set())
    _only(params, allowed)
    rows = getattr(state, report.rows)
    known_fields = report.fields or (list(rows[0]) if rows else [])
    limit = _int_param(params, "limit", 1000, 1, MAX_LIMIT)
    offset = _int_param(params, "offset", 0, 0, MAX_OFFSET)
    selected = list(rows)

    if report.date_field:
        has_from, has_till = "date_from" in params, "date_till" in params
        chat_ids = _chat_ids(params) if "chat_id" in report.extra_params else None
        # Chat messages may go by chat ids alone; every other report needs the whole window.
        if report.dates_required or not chat_ids or has_from or has_till:
            for name in ("date_from", "date_till"):
                if name not in params:
                    raise RpcError("required_parameter_missed", field=name)
        if has_from and has_till:
            start, end = parse_time(params["date_from"], "date_from"), parse_time(params["date_till"], "date_till")
            if end < start:
                raise RpcError("invalid_parameter_value", field="date_till", value=params["date_till"])
            if report.max_span == "30 days" and end - start > timedelta(days=30):
                raise RpcError("date_interval_limit_reached", "Max value of requested date interval is 30 days",
                               field="date_till")
            if report.max_span == "3 months" and end > add_months(start, 3):
                raise RpcError("date_interval_limit_reached", "Max value of requested date interval is 3 months",
                               field="date_till")
            selected = [r for r in selected
                        if r.get(report.date_field) and start <= parse_time(r[report.date_field], "row") <= end]
        if chat_ids:
            selected = [r for r in selected if r["chat_id"] in chat_ids]

    if "include_ongoing_calls" in report.extra_params:
        ongoing = params.get("include_ongoing_calls", False)
        if not isinstance(ongoing, bool):
            raise RpcError("data_type_error", field="include_ongoing_calls", value=ongoing)
        if not ongoing:
            selected = [r for r in selected if r.get("finish_time") is not None]

    if params.get("filter") is not None:
        filterable = report.filterable if report.filterable is not None else set(known_fields) - report.not_filterable
        _validate_filter(params["filter"], filterable, "filter")
        selected = [r for r in selected if _matches(r, params["filter"])]

    if params.get("sort") is not None:
        sortable = report.sortable if report.sortable is not None else set(known_fields) - {"tags", "employees"}
        selected = _sorted(selected, params["sort"], sortable)

    fields = params.get("fields")
    if fields is None:
        fields = report.defaults or known_fields
    elif not isinstance(fields, list) or not all(isinstance(f, str) for f in fields):
        raise RpcError("data_type_error", field="fields")
    else:
        for name in fields:
            if name not in known_fields:
                raise RpcError("invalid_parameter_value", field="fields", value=name)
    page = [{name: row.get(name) for name in fields} for row in selected[offset:offset + limit]]
    return page, {"total_items": len(selected)}


def _chat_ids(params: dict) -> set[int] | None:
    ids: set[int] = set()
    if "chat_id" in params:
        if not isinstance(params["chat_id"], int):
            raise RpcError("data_type_error", field="chat_id")
        ids.add(params["chat_id"])
    if "chat_ids" in params:
        value = params["chat_ids"]
        if not isinstance(value, list) or not all(isinstance(i, int) for i in value):
            raise RpcError("data_type_error", field="chat_ids")
        ids.update(value)
    return ids or None


def _int_param(params: dict, name: str, default: int, low: int, high: int) -> int:
    value = params.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int):
        raise RpcError("data_type_error", field=name, value=value)
    if not low <= value <= high:
        raise RpcError("invalid_parameter_value", field=name, value=value)
    return value


def _validate_filter(node, filterable: set[str], path: str) -> None:
    if not isinstance(node, dict):
        raise RpcError("data_type_error", field=path)
    if "filters" in node:
        _only_keys(node, {"filters", "condition"}, path)
        if node.get("condition", "and") not in ("and", "or"):
            raise RpcError("invalid_parameter_value", field=f"{path}.condition", value=node.get("condition"))
        if not isinstance(node["filters"], list) or not node["filters"]:
            raise RpcError("invalid_parameter_value", field=f"{path}.filters")
        for child in node["filters"]:
            _validate_filter(child, filterable, f"{path}.filters")
        return
    _only_keys(node, {"field", "operator", "value"}, path)
    for key in ("field", "operator"):
        if key not in node:
            raise RpcError("required_parameter_missed", field=f"{path}.{key}")
    if node["field"] not in filterable:
        raise RpcError("filter_prohibited", field=f"{path}.field", value=node["field"])
    if node["operator"] not in OPERATORS:
        raise RpcError("invalid_parameter_value", field=f"{path}.operator", value=node["operator"])
    if node["operator"] == "in" and not isinstance(node.get("value"), list):
        raise RpcError("data_type_error", field=f"{path}.value")


def _only_keys(node: dict, allowed: set[str], path: str) -> None:
    extra = sorted(set(node) - allowed)
    if extra:
        raise RpcError("unexpected_parameters", field=f"{path}.{extra[0]}")


def _matches(row: dict, node: dict) -> bool:
    if "filters" in node:
        results = (_matches(row, child) for child in node["filters"])
        return any(results) if node.get("condition", "and") == "or" else all(results)
    actual, operator, expected = row.get(node["field"]), node["operator"], node.get("value")
    if operator == "=":
        return actual == expected
    if operator == "!=":
        return actual != expected
    if operator == "in":
        return actual in expected
    if actual is None or expected is None:
        return False
    if operator == "like":
        pattern = "^" + ".*".join(re.escape(part) for part in str(expected).split("%")) + "$"
        return re.match(pattern, str(actual), re.DOTALL) is not None
    if operator == "regexp":
        return re.search(str(expected), str(actual)) is not None
    try:
        return {"<": actual < expected, ">": actual > expected, "<=": actual <= expected,
                ">=": actual >= expected}[operator]
    except TypeError:
        return False


def _sorted(rows: list[dict], sort, sortable: set[str]) -> list[dict]:
    if not isinstance(sort, list):
        raise RpcError("data_type_error", field="sort")
    for rule in reversed(sort):
        if not isinstance(rule, dict) or "field" not in rule:
            raise RpcError("required_parameter_missed", field="sort.field")
        if rule["field"] not in sortable:
            raise RpcError("sort_prohibited", field="sort.field", value=rule["field"])
        order = rule.get("order", "asc")
        if order not in ("asc", "desc"):
            raise RpcError("invalid_parameter_value", field="sort.order", value=order)
        name = rule["field"]
        rows = sorted(rows, key=lambda r, n=name: (r.get(n) is not None, r.get(n) if r.get(n) is not None else 0),
                      reverse=order == "desc")
    return rows
