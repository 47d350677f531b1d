"""What the app records about itself: Prometheus metrics, one JSON log line per processed event.

Counters and histograms are added up in Redis (one HINCRBY per recorded thing), not in each process's
memory or in PROMETHEUS_MULTIPROC_DIR files: gunicorn forks its workers, a worker started with `--fork`
forks a work horse per job (a file per pid would pile up by the thousand), and the workers may run on
other machines than the web processes. Any web process on any machine therefore answers `/metrics` with
the same, complete values, formatted by prometheus_client. Gauges of shared state (queue depth, the oldest pending event) are read
at scrape time. Recording never raises: a metric that cannot be written must not fail an event.
"""
from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Mapping
from datetime import datetime

from flask import current_app, g, has_app_context
from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily

from bx_app.bitrix import client as bitrix_client
from bx_app.extensions import db, redis_connection
from bx_app.models import Credential, Portal
from bx_app.uis import client as uis_client

log = logging.getLogger(__name__)
event_log = logging.getLogger("bx_app.events")

KEY_PREFIX = "bx:metrics:"


class _Counter:
    def __init__(self, name: str, documentation: str, labels: list[str]):
        self.name, self.documentation, self.labelnames = name, documentation, labels

    def inc(self, amount: float = 1, **labels) -> None:
        redis = _redis()
        if redis is not None:
            redis.hincrbyfloat(KEY_PREFIX + self.name, _field(self.labelnames, labels), amount)

    def collect(self, redis):
        family = CounterMetricFamily(self.name, self.documentation, labels=self.labelnames)
        for field, value in sorted(redis.hgetall(KEY_PREFIX + self.name).items()):
            family.add_metric(_labels(field), float(value))
        return family


class _Histogram:
    def __init__(self, name: str, documentation: str, labels: list[str], buckets: tuple[float, ...]):
        self.name, self.documentation, self.labelnames, self.buckets = name, documentation, labels, buckets

    def observe(self, value: float, **labels) -> None:
        redis = _redis()
        if redis is None:
            return
        field = _field(self.labelnames, labels)
        pipe = redis.pipeline(transaction=False)
        bucket = next((b for b in self.buckets if value <= b), float("inf"))
        pipe.hincrby(f"{KEY_PREFIX}{self.name}:bucket", f"{field}\x1f{bucket}", 1)
        pipe.hincrbyfloat(f"{KEY_PREFIX}{self.name}:sum", field, value)
        pipe.execute()

    def collect(self, redis):
        family = HistogramMetricFamily(self.name, self.documentation, labels=self.labelnames)
        per_bucket: dict[str, dict[float, int]] = {}
        for key, count in redis.hgetall(f"{KEY_PREFIX}{self.name}:bucket").items():
            field, bucket = _text(key).rsplit("\x1f", 1)
            per_bucket.setdefault(field, {})[float(bucket)] = int(count)
        sums = {_text(k): v for k, v in redis.hgetall(f"{KEY_PREFIX}{self.name}:sum").items()}
        for field, counts in sorted(per_bucket.items()):
            cumulative, buckets = 0, []
            for bound in (*self.buckets, float("inf")):
                cumulative += counts.get(bound, 0)
                buckets.append(("+Inf" if bound == float("inf") else repr(bound), cumulative))
            family.add_metric(_labels(field), buckets, float(sums.get(field, 0)))
        return family


def _field(names: list[str], labels: dict) -> str:
    return json.dumps([str(labels.get(n, "")) for n in names], ensure_ascii=False)


def _labels(field) -> list[str]:
    return json.loads(_text(field))


def _text(value) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _redis():
    if not has_app_context():
        return None
    return redis_connection(current_app.config["REDIS_URL"])


EVENTS = _Counter("bx_events", "Events journaled, by kind and outcome (done, skipped, failed, retry)",
                  ["kind", "outcome"])
BITRIX_REQUESTS = _Counter("bx_bitrix_requests", "HTTP requests sent to Bitrix24 portals, by portal plan", ["plan"])
BITRIX_LIMIT_ERRORS = _Counter("bx_bitrix_limit_errors",
                               "QUERY_LIMIT_EXCEEDED / OPERATION_TIME_LIMIT / OVERLOAD_LIMIT answers, by portal plan",
                               ["plan"])
BITRIX_SERVER_ERRORS = _Counter("bx_bitrix_server_errors", "5xx and network errors from Bitrix24, by portal plan",
                                ["plan"])
TOKEN_REFRESHES = _Counter("bx_token_refreshes", "OAuth token refreshes, by outcome (ok, needs_reauth)", ["outcome"])
DATA_API_CALLS = _Counter("bx_data_api_calls", "UIS Data API calls, by method", ["method"])
DATA_API_ERRORS = _Counter("bx_data_api_errors", "UIS Data API calls that failed, by method and error",
                           ["method", "error"])
JOB_SECONDS = _Histogram("bx_job_seconds", "Duration of RQ jobs, by job", ["job"],
                         buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300))
METRICS = (EVENTS, BITRIX_REQUESTS, BITRIX_LIMIT_ERRORS, BITRIX_SERVER_ERRORS, TOKEN_REFRESHES, DATA_API_CALLS,
           DATA_API_ERRORS, JOB_SECONDS)

_BITRIX_COUNTERS = {"requests": BITRIX_REQUESTS, "limit_errors": BITRIX_LIMIT_ERRORS,
                    "server_errors": BITRIX_SERVER_ERRORS, "network_errors": BITRIX_SERVER_ERRORS}

# Bitrix24 requests this thread sent since its previous event log line or the start of its job (a
# group's shared batches are counted on the first event journaled after them; the sum over a job's
# lines is exact).
_requests_since_line = threading.local()


def _safely(record):
    def wrapper(*args, **kwargs):
        try:
            record(*args, **kwargs)
        except Exception:  # noqa: BLE001 - metrics never fail the work they describe
            log.debug("metric not recorded", exc_info=True)
    wrapper.__name__ = record.__name__
    wrapper.__doc__ = record.__doc__
    return wrapper


def portal_plan(rate_per_second: float | None, bucket_size: int | None) -> str:
    """The plan label of a portal from its leaky bucket: Enterprise has 5 req/s and 250, the others 2 and 50."""
    return "enterprise" if (rate_per_second or 0) >= 5 or (bucket_size or 0) >= 250 else "standard"


@_safely
def bitrix_counted(name: str, amount: float, labels: Mapping[str, str]) -> None:
    """Observer of the Bitrix24 client's counters (bx_app.bitrix.client.stats_observer)."""
    counter = _BITRIX_COUNTERS.get(name)
    if counter is None:
        return
    counter.inc(amount, plan=labels.get("plan", "unknown"))
    if name == "requests":
        _requests_since_line.count = getattr(_requests_since_line, "count", 0) + int(amount)


@_safely
def data_api_called(method: str, error: str | None) -> None:
    """Observer of the UIS Data API client (bx_app.uis.client.call_observer)."""
    DATA_API_CALLS.inc(method=method)
    if error:
        DATA_API_ERRORS.inc(method=method, error=error)


@_safely
def token_refreshed(outcome: str) -> None:
    TOKEN_REFRESHES.inc(outcome=outcome)


@_safely
def job_finished(job: str, seconds: float) -> None:
    JOB_SECONDS.observe(seconds, job=job)


def _member_id(credential_id: int) -> str | None:
    """Read once per app context (a drain job journals a group of one credential's events: one query, not
    one per event)."""
    known = g.setdefault("member_ids", {})
    if credential_id not in known:
        known[credential_id] = (db.session.query(Portal.member_id).join(Credential, Credential.portal_id == Portal.id)
                                .filter(Credential.id == credential_id).scalar())
    return known[credential_id]


@_safely
def event_journaled(event, outcome: str) -> None:
    """The one call of the engine: an event's outcome was written to the journal.

    Counts it and writes one JSON line (logger `bx_app.events`): ids, outcome, reason, Bitrix24 requests,
    milliseconds since the event was stored. Never tokens, never payload fields (names, phones, texts).
    """
    EVENTS.inc(kind=event.kind or "unknown", outcome=outcome)
    requests = getattr(_requests_since_line, "count", 0)
    _requests_since_line.count = 0
    stored = event.created_at
    elapsed_ms = None
    if isinstance(stored, datetime):
        now = datetime.now(stored.tzinfo) if stored.tzinfo else datetime.utcnow()  # noqa: DTZ003 - naive UTC rows
        elapsed_ms = max(0, int((now - stored).total_seconds() * 1000))
    event_log.info(json.dumps({
        "msg": "event", "member_id": _member_id(event.credential_id), "credential": event.credential_id, "event_id": event.id,
        "kind": event.kind, "stage": event.stage, "outcome": outcome, "reason": event.reason,
        "attempts": event.attempts, "b24_requests": requests, "ms": elapsed_ms,
    }, ensure_ascii=False))


# --- exposition -----------------------------------------------------------------------------------
class RecordedCollector:
    """The counters and histograms recorded by all processes, read from Redis at scrape time."""

    def __init__(self, redis):
        self._redis = redis

    def collect(self):
        for metric in METRICS:
            yield metric.collect(self._redis)


class SharedStateCollector:
    """Queue depth per queue and the oldest pending event, read at scrape time from Redis and the database."""

    def __init__(self, state: Mapping):
        self._state = state

    def collect(self):
        state = self._state
        depth = GaugeMetricFamily("bx_queue_depth", "Jobs waiting per RQ queue; queue=\"pending\": events waiting "
                                  "in the portals' pending sets", labels=["queue"])
        for name, value in sorted((state.get("queue_depth") or {}).items()):
            depth.add_metric([name], value)
        yield depth
        oldest = GaugeMetricFamily("bx_oldest_pending_event_age_seconds",
                                   "Age of the oldest event not yet done (new or processing); 0 when none")
        oldest.add_metric([], state.get("oldest_pending_seconds") or 0)
        yield oldest
        up = GaugeMetricFamily("bx_dependency_up", "1 when this web process reaches the dependency",
                               labels=["dependency"])
        for name in ("database", "redis"):
            up.add_metric([name], 1 if state.get(name) == "ok" else 0)
        yield up


def scrape_registry(redis, state: Mapping) -> CollectorRegistry:
    """A registry for one scrape: what every process recorded (Redis) and the shared state now."""
    registry = CollectorRegistry(auto_describe=False)
    if redis is not None:
        registry.register(RecordedCollector(redis))
    registry.register(SharedStateCollector(state))
    return registry


def install_client_observers() -> None:
    """Connect the clients' observer hooks (they know nothing of metrics) to this module. Idempotent."""
    bitrix_client.stats_observer = bitrix_counted
    uis_client.call_observer = data_api_called


def timed_job(name: str):
    """Context for a job's duration: `with timed_job("drain_portal"): ...`."""
    return _JobTimer(name)


class _JobTimer:
    def __init__(self, name: str):
        self.name = name

    def __enter__(self):
        self.started = time.perf_counter()
        _requests_since_line.count = 0  # a job's event lines count the requests of this job only
        return self

    def __exit__(self, *exc):
        job_finished(self.name, time.perf_counter() - self.started)
        return False
