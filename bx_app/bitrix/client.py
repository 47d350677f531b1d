"""The Bitrix24 REST client for one portal: call, batch, paging, limits, retries and token refresh."""
from __future__ import annotations

import contextlib
import logging
import random
import re
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import quote, urlsplit

import requests

from bx_app.bitrix.errors import (
    BatchLengthExceeded,
    BitrixError,
    ExpiredToken,
    ForbiddenAddress,
    InvalidToken,
    NetworkError,
    OperationTimeLimit,
    QueryLimitExceeded,
    RateLimited,
    ServerError,
    from_response,
)
from bx_app.bitrix.limiter import DEFAULT_CAPACITY, DEFAULT_RATE, RateLimiter, local_bucket
from bx_app.outbound import AddressForbidden, OutboundPolicy, ip_literal

log = logging.getLogger(__name__)

MAX_BATCH = 50
# Set by the app (bx_app.observability): called with (counter name, amount, the client's labels) for
# every ClientStats increment. The client itself knows nothing of metrics.
stats_observer: Callable[[str, float, Mapping[str, str]], None] | None = None
PAGE_SIZE = 50
_REDIRECTS = (301, 302, 303, 307, 308)
_BATCH_KEY_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_\-]*$")
# `$result[key]...` references inside a batch command; they must reach Bitrix24 unencoded.
_REFERENCE_RE = re.compile(r"\$result\[[^\]\s&]*\](?:\[[^\]\s&]*\])*")
_REFERENCED_KEY_RE = re.compile(r"\$result\[([^\]\s&]*)\]")


class TokenSource(Protocol):
    def access_token(self) -> str: ...

    def refresh(self, stale_access_token: str) -> str: ...


@dataclass
class RestResult:
    result: Any
    total: int | None = None
    next: int | None = None
    time: dict | None = None


@dataclass
class BatchResult:
    """One batch answer: ``results[key]`` for the commands that succeeded, ``errors[key]`` typed."""

    results: dict[str, Any] = field(default_factory=dict)
    errors: dict[str, BitrixError] = field(default_factory=dict)
    totals: dict[str, int] = field(default_factory=dict)
    next: dict[str, int] = field(default_factory=dict)
    times: dict[str, dict] = field(default_factory=dict)
    time: dict | None = None

    @property
    def ok(self) -> bool:
        return not self.errors

    def raise_for(self, key: str) -> Any:
        """The result of ``key``, or its error raised; KeyError when a halted batch never ran it."""
        if key in self.errors:
            raise self.errors[key]
        if key in self.results:
            return self.results[key]
        raise KeyError(f"batch command {key!r} did not run (halted earlier?)")

    def merge(self, other: BatchResult) -> None:
        self.results.update(other.results)
        self.errors.update(other.errors)
        self.totals.update(other.totals)
        self.next.update(other.next)
        self.times.update(other.times)
        self.time = other.time


@dataclass
class ClientStats:
    """Counters for benchmarks and logs (per client instance)."""

    requests: int = 0  # HTTP requests sent
    limit_errors: int = 0  # QUERY_LIMIT_EXCEEDED / OPERATION_TIME_LIMIT / OVERLOAD_LIMIT answers seen
    server_errors: int = 0
    network_errors: int = 0
    retries: int = 0
    refreshes: int = 0
    redirects: int = 0
    backoff_seconds: float = 0.0


# --- PHP-bracket query strings (batch commands) ------------------------------------------------
def _scalar(value: Any) -> str:
    if value is True:
        return "1"  # what PHP's http_build_query does
    if value is False:
        return "0"
    return str(value)


def _flatten(prefix: str, value: Any, out: list[tuple[str, str]]) -> None:
    if isinstance(value, Mapping):
        for k, v in value.items():
            _flatten(f"{prefix}[{k}]" if prefix else str(k), v, out)
    elif isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            _flatten(f"{prefix}[{i}]", v, out)
    elif value is not None:  # PHP drops nulls too
        out.append((prefix, _scalar(value)))


def _encode_value(text: str) -> str:
    # Percent-encode everything except `$result[...]` references, which Bitrix24 substitutes textually.
    parts, pos = [], 0
    for match in _REFERENCE_RE.finditer(text):
        parts.append(quote(text[pos:match.start()], safe=""))
        parts.append(match.group(0))
        pos = match.end()
    parts.append(quote(text[pos:], safe=""))
    return "".join(parts)


def php_query(params: Mapping[str, Any] | None) -> str:
    """``{"fields": {"TITLE": "x"}}`` → ``fields[TITLE]=x`` (keys keep their brackets readable)."""
    pairs: list[tuple[str, str]] = []
    _flatten("", params or {}, pairs)
    return "&".join(f"{quote(k, safe='[]')}={_encode_value(v)}" for k, v in pairs)


def batch_command(command: str | tuple[str, Mapping | None]) -> str:
    """One batch command as ``method?query``; a string is taken as already built."""
    if isinstance(command, str):
        return command
    method, params = command
    query = php_query(params)
    return f"{method}?{query}" if query else method


def _check_batch_key(key: Any) -> str:
    if not isinstance(key, str) or not _BATCH_KEY_RE.match(key):
        # Numeric keys turn result.result into a JSON list (fast_bitrix24#44) and break `$result[...]`.
        raise ValueError(f"batch key {key!r} must start with a letter or '_' and use [A-Za-z0-9_-] only")
    return key


def referenced_keys(query: str) -> set[str]:
    return set(_REFERENCED_KEY_RE.findall(query))


def batch_chunks(commands: Mapping[str, Any], size: int = MAX_BATCH) -> list[dict[str, str]]:
    """Split an ordered set of commands into batches of ≤ ``size``, never cutting a ``$result`` reference.

    A cut is allowed before command *i* only if no later command refers to a key before *i*; each chunk
    is as long as possible. ValueError when references chain more than ``size`` commands together.
    """
    keys = [_check_batch_key(k) for k in commands]
    queries = [batch_command(commands[k]) for k in keys]
    position = {k: i for i, k in enumerate(keys)}
    # earliest[i]: the smallest index any command at i or later refers to (a cut before i must be ≤ it).
    earliest = [len(keys)] * (len(keys) + 1)
    for i in range(len(keys) - 1, -1, -1):
        refs = [position[r] for r in referenced_keys(queries[i]) if r in position]
        for r in refs:
            if r >= i:
                raise ValueError(f"batch command {keys[i]!r} refers to {keys[r]!r}, which runs later")
        earliest[i] = min([earliest[i + 1], *refs])
    chunks: list[dict[str, str]] = []
    start = 0
    while start < len(keys):
        end = min(start + size, len(keys))
        if end < len(keys):
            cut = end
            while cut > start and earliest[cut] < cut:
                cut -= 1
            if cut == start:
                raise ValueError(f"more than {size} commands are chained by $result references from {keys[start]!r}")
            end = cut
        chunks.append({keys[i]: queries[i] for i in range(start, end)})
        start = end
    return chunks


def _dict_or_empty(value: Any) -> dict:
    # PHP serialises an empty array as [], even where an object is meant.
    return value if isinstance(value, dict) else {}


def parse_batch(body: dict, cmd: Mapping[str, str]) -> BatchResult:
    """Read a batch answer; ``cmd`` is what was sent (key → ``method?query``), in order."""
    keys = list(cmd)
    outer = body.get("result") or {}
    if not isinstance(outer, dict):
        outer = {}
    raw_results = outer.get("result")
    if isinstance(raw_results, list):
        # Should not happen with our keys; if it does, results come in command order (fast_bitrix24#44).
        raw_results = {keys[i]: v for i, v in enumerate(raw_results) if i < len(keys)} if raw_results else {}
    result = BatchResult(results=dict(raw_results or {}), time=body.get("time"))
    for key, err in _dict_or_empty(outer.get("result_error")).items():
        err = err if isinstance(err, dict) else {"error": "", "error_description": str(err)}
        sub_method = str(cmd.get(key, "batch")).split("?", 1)[0]
        result.errors[key] = from_response(None, err, sub_method)
        result.results.pop(key, None)
    result.totals = {k: int(v) for k, v in _dict_or_empty(outer.get("result_total")).items()}
    result.next = {k: int(v) for k, v in _dict_or_empty(outer.get("result_next")).items()}
    result.times = _dict_or_empty(outer.get("result_time"))
    return result


def _int_or_none(value: Any) -> int | None:
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None


class PortalClient:
    """Calls one portal's REST API with a token from ``token_source``.

    Every HTTP request waits for ``limiter`` first (default: a per-process bucket of 2/s, 50 burst per
    endpoint). Retried inline: QUERY_LIMIT_EXCEEDED, 5xx and network errors (exponential back-off with
    full jitter, ``max_retries`` times); OPERATION_TIME_LIMIT waits for the method's reset time unless that
    is longer than ``max_operation_wait`` (then it is raised for the job to reschedule); ``expired_token``
    refreshes through the token source and repeats once; a 302 after a portal rename is followed and the
    new endpoint kept (``client_endpoint``, ``on_endpoint_change``) only when the new host passes
    ``address_policy`` and looks like the same portal renamed; otherwise the token is never sent there.
    Every connection goes through the policy's pinned transport unless a ``session`` is given.
    Writes are retried too: the app marks them with ORIGIN_ID so a repeat after a lost answer is
    detected downstream.
    """

    def __init__(self, client_endpoint: str, token_source: TokenSource, limiter: RateLimiter | None = None,
                 session: requests.Session | None = None, timeout: float = 65.0, max_retries: int = 3,
                 backoff_base: float = 1.0, backoff_cap: float = 30.0, max_operation_wait: float = 60.0,
                 on_endpoint_change: Callable[[str], None] | None = None,
                 sleep: Callable[[float], None] = time.sleep, address_policy: OutboundPolicy | None = None):
        self.client_endpoint = client_endpoint.rstrip("/") + "/"
        self.token_source = token_source
        self.limiter = limiter if limiter is not None else local_bucket(
            self.client_endpoint, DEFAULT_RATE, DEFAULT_CAPACITY, 2)
        self.address_policy = address_policy if address_policy is not None else OutboundPolicy()
        self.session = session or self.address_policy.session()
        self.timeout = timeout  # Bitrix24 cuts a call at 60 s; wait a little longer than that
        self.max_retries = max_retries
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self.max_operation_wait = max_operation_wait
        self.on_endpoint_change = on_endpoint_change
        self.endpoint_changed = False
        self.stats = ClientStats()
        self.labels: dict[str, str] = {}  # for stats_observer, e.g. {"plan": "standard"}
        self._sleep = sleep
        self._stats_lock = threading.Lock()
        # Per method: unix time when its operating-time basket empties, from the last `time` object.
        self.operating_reset_at: dict[str, float] = {}

    # --- public API ----------------------------------------------------------------------------
    def call(self, method: str, params: Mapping[str, Any] | None = None) -> RestResult:
        body = self._request(method, dict(params or {}))
        return RestResult(result=body.get("result"), total=_int_or_none(body.get("total")),
                          next=_int_or_none(body.get("next")), time=body.get("time"))

    def batch(self, commands: Mapping[str, Any], halt: bool = False) -> BatchResult:
        """One ``batch`` HTTP call; ``commands`` maps key → (method, params) or a built ``method?query``."""
        if len(commands) > MAX_BATCH:
            raise BatchLengthExceeded("ERROR_BATCH_LENGTH_EXCEEDED",
                                      f"{len(commands)} commands; at most {MAX_BATCH} per batch (use batch_all)",
                                      None, "batch")
        if not commands:
            return BatchResult()
        cmd = {_check_batch_key(k): batch_command(v) for k, v in commands.items()}
        body = self._request("batch", {"halt": 1 if halt else 0, "cmd": cmd})
        return parse_batch(body, cmd)

    def batch_all(self, commands: Mapping[str, Any], halt: bool = False) -> BatchResult:
        """Any number of commands, in as few batch calls as ``$result`` references allow."""
        merged = BatchResult()
        for chunk in batch_chunks(commands):
            merged.merge(self.batch(chunk, halt=halt))
            if halt and merged.errors:
                break
        return merged

    def list_all(self, method: str, params: Mapping[str, Any] | None = None, fast: bool = False,
                 id_field: str = "ID", max_items: int | None = None) -> list:
        return list(self.iter_list(method, params, fast=fast, id_field=id_field, max_items=max_items))

    def iter_list(self, method: str, params: Mapping[str, Any] | None = None, fast: bool = False,
                  id_field: str = "ID", max_items: int | None = None) -> Iterator[Any]:
        """Every item of a list method, page by page (50 each).

        ``fast=True`` pages by ``filter[>ID]`` with ``start=-1`` and ``order {ID: ASC}`` (no COUNT on
        the portal: the documented way for big tables); otherwise ``start`` = 0, 50, 100… following ``next``.
        """
        params = dict(params or {})
        seen = 0
        if fast:
            base_filter = dict(params.get("filter") or {})
            params["order"] = {id_field: "ASC"}
            params["start"] = -1
            last_id: Any = None
            while True:
                page_filter = dict(base_filter)
                if last_id is not None:
                    page_filter[f">{id_field}"] = last_id
                params["filter"] = page_filter
                items = _items(self.call(method, params).result)
                for item in items:
                    yield item
                    seen += 1
                    if max_items is not None and seen >= max_items:
                        return
                if len(items) < PAGE_SIZE:
                    return
                last_id = items[-1].get(id_field) if isinstance(items[-1], dict) else None
                if last_id is None:
                    raise ValueError(f"{method}: items carry no {id_field!r}; cannot page fast")
        else:
            start = int(params.get("start") or 0)
            while True:
                params["start"] = start
                page = self.call(method, params)
                for item in _items(page.result):
                    yield item
                    seen += 1
                    if max_items is not None and seen >= max_items:
                        return
                if page.next is None or page.next <= start:
                    return
                start = page.next

    # --- the request loop ----------------------------------------------------------------------
    def _count(self, name: str, amount: float = 1) -> None:
        with self._stats_lock:
            setattr(self.stats, name, getattr(self.stats, name) + amount)
        if stats_observer is not None:
            with contextlib.suppress(Exception):  # counting never fails a request
                stats_observer(name, amount, self.labels)

    def _backoff(self, attempt: int) -> float:
        # Full jitter: many workers that hit the limit together do not come back together.
        return random.uniform(0, min(self.backoff_cap, self.backoff_base * (2 ** attempt)))

    def _request(self, method: str, params: dict) -> dict:
        attempt = 0
        refreshed = False
        redirects = 0
        while True:
            token = self.token_source.access_token()
            self.limiter.acquire()
            url = f"{self.client_endpoint}{method}"
            self._count("requests")
            try:
                response = self.session.post(url, json={**params, "auth": token}, timeout=self.timeout,
                                             allow_redirects=False)
            except AddressForbidden as exc:
                raise ForbiddenAddress("FORBIDDEN_ADDRESS", str(exc), None, method) from None
            except requests.RequestException as exc:
                self._count("network_errors")
                error: BitrixError = NetworkError("NETWORK_ERROR", f"{type(exc).__name__}: {exc}", None, method)
            else:
                if response.status_code in _REDIRECTS and response.headers.get("Location"):
                    redirects += 1
                    if redirects > 3:
                        raise ServerError("TOO_MANY_REDIRECTS", response.headers["Location"],
                                          response.status_code, method)
                    self._follow_rename(response.headers["Location"], method)
                    continue
                body = _json_or_text(response)
                if response.status_code == 200 and isinstance(body, dict) and "error" not in body:
                    self._note_time(method, body.get("time"))
                    return body
                error = from_response(response.status_code, body, method)
                if response.status_code == 200 and not isinstance(body, dict):
                    error = ServerError("BAD_RESPONSE", "the portal answered 200 without JSON", 200, method)
                if isinstance(error, OperationTimeLimit):
                    error.reset_at = self.operating_reset_at.get(method)

            if isinstance(error, RateLimited):
                self._count("limit_errors")
            elif isinstance(error, ServerError):
                self._count("server_errors")
            if isinstance(error, ExpiredToken) and not refreshed:
                refreshed = True
                self._count("refreshes")
                self.token_source.refresh(token)
                continue
            if isinstance(error, InvalidToken) and not refreshed:
                # Another worker's refresh retires the sibling access token too: if a newer one is
                # stored, use it once; never refresh on invalid_token (the refresh would fail as well).
                refreshed = True
                if self.token_source.access_token() != token:
                    continue
            if isinstance(error, OperationTimeLimit):
                wait = error.retry_after
                if wait > self.max_operation_wait or attempt >= self.max_retries:
                    raise error
                log.info("%s blocked by OPERATION_TIME_LIMIT; waiting %.0f s", method, wait)
                attempt += 1
                self._count("retries")
                self._sleep(wait)
                continue
            if isinstance(error, (QueryLimitExceeded, ServerError, NetworkError)) and attempt < self.max_retries:
                if isinstance(error, QueryLimitExceeded):
                    self.limiter.note_overflow()
                delay = self._backoff(attempt)
                attempt += 1
                self._count("retries")
                self._count("backoff_seconds", delay)
                log.info("%s: %s; retry %d in %.2f s", method, error.code, attempt, delay)
                self._sleep(delay)
                continue
            raise error

    def _note_time(self, method: str, time_info: Any) -> None:
        if isinstance(time_info, dict) and time_info.get("operating_reset_at"):
            with contextlib.suppress(TypeError, ValueError):
                self.operating_reset_at[method] = float(time_info["operating_reset_at"])

    def _follow_rename(self, location: str, method: str) -> None:
        """A renamed portal answers 302 with the new host: keep the new endpoint and re-POST there."""
        old = urlsplit(self.client_endpoint)
        new = urlsplit(location)
        if not new.netloc:  # relative Location: same host
            return
        if old.scheme == "https" and new.scheme != "https":
            raise ServerError("INSECURE_REDIRECT", f"refusing to follow {location} from https", 302, method)
        try:
            self.address_policy.check_url(location)
        except AddressForbidden as exc:
            raise ForbiddenAddress("FORBIDDEN_REDIRECT", f"refusing to follow {location}: {exc}", 302,
                                   method) from None
        if not plausible_rename(old.hostname or "", new.hostname or ""):
            raise ForbiddenAddress("FORBIDDEN_REDIRECT", f"{location} is not this portal under a new name",
                                   302, method)
        path = new.path
        suffix = method.lower()
        lowered = path.lower()
        for candidate in (suffix, suffix + ".json"):
            if lowered.endswith("/" + candidate):
                path = path[: len(path) - len(candidate)]
                break
        else:
            path = old.path
        endpoint = f"{new.scheme}://{new.netloc}{path}"
        if not endpoint.endswith("/"):
            endpoint += "/"
        if endpoint == self.client_endpoint:
            raise ServerError("REDIRECT_LOOP", location, 302, method)
        log.warning("portal moved: %s -> %s", self.client_endpoint, endpoint)
        self._count("redirects")
        self.client_endpoint = endpoint
        self.endpoint_changed = True
        if self.on_endpoint_change is not None:
            self.on_endpoint_change(endpoint)


# Bitrix24 cloud zones: a renamed cloud portal stays a cloud portal (company.bitrix24.ru → new.bitrix24.ru).
_CLOUD_PORTAL_RE = re.compile(r"^[a-z0-9-]+\.bitrix24\.[a-z]{2,3}(\.[a-z]{2})?$")


def plausible_rename(old_host: str, new_host: str) -> bool:
    """Whether a redirect from ``old_host`` to ``new_host`` can be the same portal renamed.

    A cloud portal moves to another name in a Bitrix24 cloud zone; a self-hosted portal to another name
    under the same parent domain (crm.example.com → b24.example.com). Anything else — a redirect to
    an unrelated site or to a bare IP — could be an attempt to collect the access token.
    """
    old_host, new_host = old_host.lower().rstrip("."), new_host.lower().rstrip(".")
    if not old_host or not new_host:
        return False
    try:
        old_ip, new_ip = ip_literal(old_host), ip_literal(new_host)
    except AddressForbidden:
        return False
    if old_ip is not None or new_ip is not None:
        return old_ip is not None and old_ip == new_ip  # development portals: same address, other port
    if _CLOUD_PORTAL_RE.match(old_host) and _CLOUD_PORTAL_RE.match(new_host):
        return True
    old_parent, new_parent = old_host.split(".", 1)[-1], new_host.split(".", 1)[-1]
    return "." in old_parent and old_parent == new_parent


def _items(result: Any) -> list:
    """A list method's page: a list, or (crm.item.list, crm.category.list) a dict holding one list."""
    if isinstance(result, list):
        return result
    if isinstance(result, dict):
        lists = [v for v in result.values() if isinstance(v, list)]
        if len(lists) == 1:
            return lists[0]
    return []


def _json_or_text(response: requests.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return response.text
