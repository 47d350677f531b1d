"""UIS Data API v2.0 client: JSON-RPC calls with throttling, retries, paging and date windows."""
from __future__ import annotations

import contextlib
import itertools
import json
import random
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import requests

from bx_app.uis.errors import (
    AuthError,
    LimitExceeded,
    TransportError,
    UisError,
    WrongLogin,
    error_from_envelope,
)

DEFAULT_URL = "https://dataapi.uiscom.ru/v2.0"
UIS_TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
MAX_LIMIT = 10_000
MAX_OFFSET = 100_000
# Chat messages refuse windows over 30 days; other reports may refuse over 3 months (89 days fits any 3 months).
CHAT_MESSAGES_WINDOW = timedelta(days=30)

# Set by the app (bx_app.observability) to count calls: called with (method, error name or None) per
# HTTP call. The client itself knows nothing of metrics.
call_observer: Callable[[str, str | None], None] | None = None
REPORT_WINDOW = timedelta(days=89)

UTM_FIELDS = ["utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content"]

# Ask for every column the integration may map or show; the method defaults miss names, sites and utm_*.
OFFLINE_MESSAGE_FIELDS = [
    "id", "date_time", "text", "communication_id", "communication_number", "communication_page_url",
    "status", "process_time", "form_type", "form_name", "properties", "group_id", "group_name",
    "employee_id", "employee_full_name", "employee_comment", "employee_answer_message",
    "is_agree_to_process_personal_data", "is_agree_to_mailing",
    "site_id", "site_domain_name", "campaign_id", "campaign_name",
    "visitor_id", "person_id", "visitor_name", "visitor_phone_number", "visitor_email", "visitor_session_id",
    "visitor_type", "search_engine", "search_query", "referrer", *UTM_FIELDS, "tags",
]
CHAT_FIELDS = [
    "id", "status", "initiator", "date_time", "duration", "answer_time", "communication_id",
    "communication_number", "communication_page_url", "messages_count", "is_transfer", "release_cause",
    "chat_channel_id", "chat_channel_type", "chat_channel_name", "chat_user_id", "chat_username",
    "employee_id", "employee_full_name", "site_id", "site_domain_name", "campaign_id", "campaign_name",
    "visitor_id", "visitor_phone_number", "person_id", "visitor_type", "visitor_session_id",
    "visitor_city", "visitor_region", "visitor_country", "search_engine", "search_query", "ua_client_id",
    *UTM_FIELDS, "tags",
]
CHAT_MESSAGE_FIELDS = [
    "id", "chat_id", "date_time", "is_group_chat", "visitor_id", "text", "source", "resource",
    "employee_id", "employee_full_name",
]
CALL_FIELDS = [
    "id", "start_time", "finish_time", "finish_reason", "direction", "is_lost", "contact_phone_number",
    "virtual_phone_number", "communication_id", "communication_type", "communication_number",
    "wait_duration", "talk_duration", "total_duration", "call_records", "full_record_file_link",
    "scenario_id", "scenario_name", "site_id", "site_domain_name", "campaign_id", "campaign_name",
    "visitor_id", "contact_id", "contact_full_name", "employees", "last_answered_employee_id",
    "last_answered_employee_full_name", "call_api_external_id", *UTM_FIELDS, "tags",
]

TimeLike = datetime | str


def _observe(method: str, error: str | None) -> None:
    if call_observer is not None:
        with contextlib.suppress(Exception):  # counting never fails a call
            call_observer(method, error)


# The get.calls_report columns the app reads (uis §8): the call, its record, employees, marketing.
CALL_FIELDS = [
    "id", "start_time", "finish_time", "finish_reason", "direction", "is_lost", "contact_phone_number",
    "virtual_phone_number", "communication_id", "communication_number", "wait_duration", "talk_duration",
    "total_duration", "call_records", "full_record_file_link", "scenario_id", "scenario_name", "site_id",
    "site_domain_name", "campaign_id", "campaign_name", "visitor_id", "employees", "last_answered_employee_id",
    "last_answered_employee_full_name", "last_talked_employee_id", "contact_full_name", "tags", "utm_source",
    "utm_medium", "utm_campaign", "utm_content", "utm_term",
]


def parse_uis_time(value: str | None) -> datetime | None:
    """`YYYY-MM-DD hh:mm:ss` (account zone, no offset) → naive datetime; None stays None."""
    if value in (None, ""):
        return None
    return datetime.strptime(str(value)[:19], UIS_TIME_FORMAT)


def format_uis_time(value: TimeLike, zone: str | None = None) -> str:
    """A naive datetime (account zone) or an aware one (converted to `zone` when given) → UIS text."""
    if isinstance(value, str):
        return format_uis_time(parse_uis_time(value))
    if value.tzinfo is not None:
        if zone:
            value = value.astimezone(ZoneInfo(zone))
        value = value.replace(tzinfo=None)
    return value.strftime(UIS_TIME_FORMAT)


def split_date_window(date_from: TimeLike, date_till: TimeLike, max_span: timedelta
                      ) -> list[tuple[datetime, datetime]]:
    """Cut an inclusive [from, till] range into inclusive windows no longer than max_span."""
    start = parse_uis_time(date_from) if isinstance(date_from, str) else date_from.replace(tzinfo=None)
    end = parse_uis_time(date_till) if isinstance(date_till, str) else date_till.replace(tzinfo=None)
    if end < start:
        raise ValueError("date_till is before date_from")
    step = timedelta(seconds=1)
    windows = []
    while start <= end:
        window_end = min(start + max_span - step, end)
        windows.append((start, window_end))
        start = window_end + step
    return windows


class ReportTooLarge(UisError):
    """More rows than offset paging reaches, in a window that cannot be split further."""

    mnemonic = "report_too_large"
    ru = "Отчёт UIS слишком большой для одного запроса: {message}."
    en = "The UIS report is too large for one request: {message}."


class DataApiClient:
    """One UIS account's Data API: `call()` returns (data, metadata); limits are honoured between calls."""

    def __init__(self, url: str = DEFAULT_URL, access_token: str | None = None,
                 session: requests.Session | None = None, timeout: float = 30.0, max_retries: int = 4,
                 sleep: Callable[[float], Any] = time.sleep, *, clock: Callable[[], float] = time.monotonic,
                 jitter: Callable[[], float] | None = None, backoff_base: float = 1.0,
                 backoff_cap: float = 60.0, login: str | None = None, password: str | None = None,
                 timezone: str | None = None, wait_for_limits: bool = True):
        self.url = url or DEFAULT_URL
        self.access_token = access_token
        self.session = session or requests.Session()
        self.timeout = timeout
        self.max_retries = max_retries
        self.timezone = timezone
        # False: a spent budget raises LimitExceeded at once (a caller that can do without the answer, such as
        # the engine's optional enrichment, must not hold a worker for up to a minute).
        self.wait_for_limits = wait_for_limits
        self._sleep = sleep
        self._clock = clock
        self._jitter = jitter or (lambda: random.uniform(0.0, 1.0))
        self._backoff_base = backoff_base
        self._backoff_cap = backoff_cap
        # With a login the key is a 1-hour session: on -32001 log in again once.
        self._login = login
        self._password = password
        self._ids = itertools.count(1)
        self._id_prefix = uuid.uuid4().hex[:8]
        self._resume_at: float | None = None
        self.limits: dict = {}
        self.last_metadata: dict = {}
        self.calls_made = 0

    # --- JSON-RPC ---------------------------------------------------------------------------------
    def call(self, method: str, params: dict | None = None) -> tuple[Any, dict]:
        """Call one method; retry what a retry can fix; raise a typed `UisError` otherwise."""
        failures = 0
        limit_waits = 0
        logged_in_again = False
        if self.access_token is None and self._login and method != "login.user":
            self.login_user(self._login, self._password or "")
        while True:
            self._wait_for_budget()
            try:
                return self._call_once(method, params or {})
            except LimitExceeded as error:
                if error.per_day or limit_waits >= self.max_retries or not self.wait_for_limits:
                    raise
                limit_waits += 1
                self._resume_at = None  # the wait below covers it
                self._sleep(error.reset_seconds + self._jitter())
            except AuthError as error:
                if (self._login and not logged_in_again and not isinstance(error, WrongLogin)
                        and method not in ("login.user", "logout.user")):
                    logged_in_again = True
                    self.login_user(self._login, self._password or "")
                    continue
                raise
            except UisError as error:
                if not error.retryable or failures >= self.max_retries:
                    raise
                self._sleep(min(self._backoff_cap, self._backoff_base * 2 ** failures) + self._jitter())
                failures += 1

    def _wait_for_budget(self) -> None:
        if self._resume_at is None or not self.wait_for_limits:
            return
        wait = self._resume_at - self._clock()
        self._resume_at = None
        if wait > 0:
            self._sleep(wait)

    def _note_limits(self, metadata: dict | None) -> None:
        limits = (metadata or {}).get("limits") if isinstance(metadata, dict) else None
        if not isinstance(limits, dict) or not limits:
            return
        self.limits = dict(limits)
        try:
            remaining = int(limits.get("minute_remaining"))
            reset = float(limits.get("minute_reset") or 0)
        except (TypeError, ValueError):
            return
        if remaining <= 0:
            # The next call would be refused: hold it until the minute budget refills.
            self._resume_at = self._clock() + reset + self._jitter()

    def _call_once(self, method: str, params: dict) -> tuple[Any, dict]:
        try:
            answer = self._send_once(method, params)
        except UisError as error:
            _observe(method, error.mnemonic or type(error).__name__)
            raise
        _observe(method, None)
        return answer

    def _send_once(self, method: str, params: dict) -> tuple[Any, dict]:
        params = dict(params)
        if method != "login.user" and "access_token" not in params:
            params["access_token"] = self.access_token
        request_id = f"{self._id_prefix}-{next(self._ids)}"
        body = json.dumps({"jsonrpc": "2.0", "id": request_id, "method": method, "params": params},
                          ensure_ascii=False, default=_json_default).encode("utf-8")
        self.calls_made += 1
        try:
            response = self.session.post(self.url, data=body, timeout=self.timeout,
                                         headers={"Content-Type": "application/json; charset=UTF-8"})
        except requests.Timeout as exc:
            raise TransportError(f"timeout after {self.timeout}s") from exc
        except requests.RequestException as exc:
            raise TransportError(f"connection error: {exc.__class__.__name__}") from exc
        try:
            reply = response.json()
        except ValueError:
            reply = None
        if isinstance(reply, dict) and isinstance(reply.get("error"), dict):
            error_data = reply["error"].get("data")
            self._note_limits(error_data.get("metadata") if isinstance(error_data, dict) else None)
            raise error_from_envelope(reply)
        if response.status_code >= 500 or response.status_code == 429:
            raise TransportError(f"HTTP {response.status_code}", response.status_code)
        if not isinstance(reply, dict) or not isinstance(reply.get("result"), dict):
            error = TransportError(f"not a JSON-RPC reply (HTTP {response.status_code})", response.status_code)
            error.retryable = False
            raise error
        result = reply["result"]
        metadata = result.get("metadata") or result.get("meta_data") or {}
        self.last_metadata = metadata
        self._note_limits(metadata)
        return result.get("data"), metadata

    # --- paging and windows -----------------------------------------------------------------------
    def iter_report(self, method: str, params: dict, page_size: int = 1000) -> Iterator[dict]:
        """All rows of a report: page through limit/offset; split the date window past the offset cap."""
        page_size = max(1, min(page_size, MAX_LIMIT))
        offset = 0
        while True:
            data, metadata = self.call(method, {**params, "limit": page_size, "offset": offset})
            rows = data or []
            if offset == 0:
                total = _as_int(metadata.get("total_items"))
                if total is not None and total > MAX_OFFSET + page_size:
                    yield from self._iter_halves(method, params, page_size, total)
                    return
            yield from rows
            if len(rows) < page_size:
                return
            offset += page_size
            if offset > MAX_OFFSET:
                raise ReportTooLarge(message=f"{method}: more than {MAX_OFFSET} rows without total_items")

    def _iter_halves(self, method: str, params: dict, page_size: int, total: int) -> Iterator[dict]:
        if not params.get("date_from") or not params.get("date_till"):
            raise ReportTooLarge(message=f"{method}: {total} rows and no date window to split")
        start, end = parse_uis_time(params["date_from"]), parse_uis_time(params["date_till"])
        if end - start < timedelta(seconds=1):
            raise ReportTooLarge(message=f"{method}: {total} rows within one second")
        middle = start + (end - start) / 2
        middle = middle.replace(microsecond=0)
        for window_start, window_end in ((start, middle), (middle + timedelta(seconds=1), end)):
            yield from self.iter_report(method, {**params, "date_from": format_uis_time(window_start),
                                                 "date_till": format_uis_time(window_end)}, page_size)

    def iter_windowed_report(self, method: str, date_from: TimeLike, date_till: TimeLike, params: dict,
                             max_span: timedelta = REPORT_WINDOW, page_size: int = 1000) -> Iterator[dict]:
        """A report over any range: windows no longer than max_span, each paged."""
        for window_start, window_end in split_date_window(self._naive(date_from), self._naive(date_till),
                                                          max_span):
            yield from self.iter_report(method, {**params, "date_from": format_uis_time(window_start),
                                                 "date_till": format_uis_time(window_end)}, page_size)

    def _naive(self, value: TimeLike) -> datetime:
        if isinstance(value, str):
            return parse_uis_time(value)
        return parse_uis_time(format_uis_time(value, self.timezone))

    # --- typed methods ----------------------------------------------------------------------------
    def login_user(self, login: str, password: str) -> dict:
        """Open a 1-hour session; the client uses its key from now on."""
        data, _ = self._call_once("login.user", {"login": login, "password": password})
        self.access_token = data["access_token"]
        return data

    def logout_user(self) -> None:
        self.call("logout.user", {})

    def get_account(self) -> dict:
        """{app_id, name, timezone}; remembers the zone for converting aware datetimes."""
        data, _ = self.call("get.account", {})
        account = (data[0] if isinstance(data, list) and data else data) or {}
        if account.get("timezone") and not self.timezone:
            self.timezone = account["timezone"]
        return account

    def get_offline_messages(self, date_from: TimeLike, date_till: TimeLike, fields: list[str] | None = None,
                             filter: dict | None = None, sort: list[dict] | None = None,
                             page_size: int = 1000) -> list[dict]:
        params = _report_params(fields or OFFLINE_MESSAGE_FIELDS, filter, sort)
        return list(self.iter_windowed_report("get.offline_messages_report", date_from, date_till, params,
                                              page_size=page_size))

    def get_chats(self, date_from: TimeLike, date_till: TimeLike, fields: list[str] | None = None,
                  filter: dict | None = None, sort: list[dict] | None = None,
                  page_size: int = 1000) -> list[dict]:
        params = _report_params(fields or CHAT_FIELDS, filter, sort)
        return list(self.iter_windowed_report("get.chats_report", date_from, date_till, params,
                                              page_size=page_size))

    def get_chat_messages(self, chat_ids: Iterable[int] | None = None, date_from: TimeLike | None = None,
                          date_till: TimeLike | None = None, fields: list[str] | None = None,
                          filter: dict | None = None, page_size: int = 1000) -> list[dict]:
        """Messages of some chats (or of a date range), oldest first."""
        params = _report_params(fields or CHAT_MESSAGE_FIELDS, filter,
                                [{"field": "date_time", "order": "asc"}])
        ids = [int(i) for i in chat_ids] if chat_ids is not None else []
        if ids:
            rows: list[dict] = []
            for chunk_start in range(0, len(ids), 100):
                chunk = {**params, "chat_ids": ids[chunk_start:chunk_start + 100]}
                if date_from is not None and date_till is not None:
                    rows.extend(self.iter_windowed_report("get.chat_messages_report", date_from, date_till,
                                                          chunk, CHAT_MESSAGES_WINDOW, page_size))
                else:
                    rows.extend(self.iter_report("get.chat_messages_report", chunk, page_size))
            return rows
        if date_from is None or date_till is None:
            raise ValueError("get_chat_messages needs chat_ids or date_from and date_till")
        return list(self.iter_windowed_report("get.chat_messages_report", date_from, date_till, params,
                                              CHAT_MESSAGES_WINDOW, page_size))

    def get_chat_channels(self, fields: list[str] | None = None) -> list[dict]:
        return list(self.iter_report("get.chat_channels", _report_params(fields, None, None)))

    def get_employees(self, fields: list[str] | None = None) -> list[dict]:
        return list(self.iter_report("get.employees", _report_params(fields, None, None)))

    def get_sites(self, fields: list[str] | None = None) -> list[dict]:
        return list(self.iter_report("get.sites", _report_params(fields, None, None)))

    def get_virtual_numbers(self, fields: list[str] | None = None) -> list[dict]:
        return list(self.iter_report("get.virtual_numbers", _report_params(fields, None, None)))

    def get_visitors(self, ids: Iterable[int]) -> list[dict]:
        """Contacts of chat visitors: [{id, name, phones, emails, usernames}]."""
        wanted = [int(i) for i in ids]
        rows: list[dict] = []
        for chunk_start in range(0, len(wanted), 100):
            data, _ = self.call("get.visitors", {"ids": wanted[chunk_start:chunk_start + 100]})
            rows.extend(data or [])
        return rows

    def get_calls(self, date_from: TimeLike, date_till: TimeLike, fields: list[str] | None = None,
                  filter: dict | None = None, sort: list[dict] | None = None,
                  include_ongoing_calls: bool = False, page_size: int = 1000) -> list[dict]:
        params = _report_params(fields or CALL_FIELDS, filter, sort)
        if include_ongoing_calls:
            params["include_ongoing_calls"] = True
        return list(self.iter_windowed_report("get.calls_report", date_from, date_till, params,
                                              page_size=page_size))


def _report_params(fields: list[str] | None, filter: dict | None, sort: list[dict] | None) -> dict:
    params: dict = {}
    if fields:
        params["fields"] = list(fields)
    if filter:
        params["filter"] = filter
    if sort:
        params["sort"] = sort
    return params


def _as_int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return format_uis_time(value)
    raise TypeError(f"cannot send {type(value).__name__} to UIS")


__all__ = [
    "CALL_FIELDS", "CHAT_FIELDS", "CHAT_MESSAGE_FIELDS", "DataApiClient", "DEFAULT_URL",
    "MAX_LIMIT", "MAX_OFFSET", "OFFLINE_MESSAGE_FIELDS", "ReportTooLarge", "format_uis_time",
    "parse_uis_time", "split_date_window",
]
