"""What a portal does to callers who ask too much: the leaky bucket, and injected faults for tests."""
from __future__ import annotations

import random
from dataclasses import dataclass

# Bodies and statuses per rest_errors_catalog.json; keys are what /sandbox/control accepts as "error".
ERROR_CATALOG: dict[str, tuple[int, dict | str]] = {
    "QUERY_LIMIT_EXCEEDED": (503, {"error": "QUERY_LIMIT_EXCEEDED", "error_description": "Too many requests"}),
    "OPERATION_TIME_LIMIT": (429, {"error": "OPERATION_TIME_LIMIT",
                                   "error_description": "Method is blocked due to operation time limit."}),
    "expired_token": (401, {"error": "expired_token", "error_description": "The access token provided has expired."}),
    "invalid_token": (401, {"error": "invalid_token", "error_description": "Unable to get application by token"}),
    "NO_AUTH_FOUND": (401, {"error": "NO_AUTH_FOUND", "error_description": "Wrong authorization data"}),
    "insufficient_scope": (403, {"error": "insufficient_scope", "error_description":
                                 "The request requires higher privileges than provided by the access token"}),
    "ACCESS_DENIED": (403, {"error": "ACCESS_DENIED", "error_description": "REST is available only on commercial plans."}),
    "user_access_error": (403, {"error": "user_access_error",
                                "error_description": "The user does not have access to the application."}),
    "WRONG_AUTH_TYPE": (403, {"error": "WRONG_AUTH_TYPE",
                              "error_description": "Current authorization type is denied for this method"}),
    "ERROR_OAUTH": (401, {"error": "ERROR_OAUTH", "error_description": "Application not installed"}),
    "authorization_error": (401, {"error": "authorization_error", "error_description": "Unable to authorize user"}),
    "OVERLOAD_LIMIT": (503, {"error": "OVERLOAD_LIMIT", "error_description": "REST API is blocked due to overload."}),
    "INTERNAL_SERVER_ERROR": (500, {"error": "INTERNAL_SERVER_ERROR", "error_description": "Internal server error"}),
    # A bare gateway failure: HTTP 500 with an HTML body, no JSON at all.
    "HTTP_500": (500, "<html><body><h1>500 Internal Server Error</h1></body></html>"),
    "HTTP_502": (502, "<html><body><h1>502 Bad Gateway</h1></body></html>"),
}
# Not an error: the call runs, then its HTTP answer is held back `seconds` (a client that dies meanwhile
# never learns that the write happened).
DELAY_AFTER = "DELAY_AFTER"
ERROR_ALIASES = {"500": "INTERNAL_SERVER_ERROR", "http_500": "HTTP_500", "502": "HTTP_502", "503": "QUERY_LIMIT_EXCEEDED",
                 "429": "OPERATION_TIME_LIMIT"}


def catalog_error(name: str) -> tuple[int, dict | str]:
    if name == DELAY_AFTER:
        return 200, {}
    key = ERROR_ALIASES.get(name, name)
    if key not in ERROR_CATALOG:
        raise ValueError(f"unknown error {name!r}; known: {sorted(ERROR_CATALOG)}")
    return ERROR_CATALOG[key]


class LeakyBucket:
    """+1 per REST HTTP request, drains `rate` per second; a request that would overflow `capacity` is refused."""

    def __init__(self, rate: float = 2.0, capacity: float = 50.0, enabled: bool = True) -> None:
        self.rate = rate
        self.capacity = capacity
        self.enabled = enabled
        self.level = 0.0
        self.updated_at: float | None = None

    def _drain(self, now: float) -> None:
        if self.updated_at is not None:
            self.level = max(0.0, self.level - (now - self.updated_at) * self.rate)
        self.updated_at = now

    def admit(self, now: float) -> bool:
        self._drain(now)
        if not self.enabled:
            return True
        if self.level + 1 > self.capacity:
            return False
        self.level += 1
        return True

    def as_json(self, now: float) -> dict:
        self._drain(now)
        return {"rate": self.rate, "capacity": self.capacity, "enabled": self.enabled, "level": round(self.level, 3)}


@dataclass
class Fault:
    """Answer the next `count` calls (of `method`, if set) with `error`; or a random `probability` of them."""

    error: str
    count: int | None = 1
    method: str | None = None
    probability: float | None = None
    seconds: float = 0.0
    contains: str | None = None  # only requests whose parameters contain this text (a batch with crm.lead.add)
    hits: int = 0

    def as_json(self) -> dict:
        return {"error": self.error, "count": self.count, "method": self.method,
                "probability": self.probability, "seconds": self.seconds,
                "contains": self.contains, "hits": self.hits}


class FaultPlan:
    def __init__(self, seed: int | None = None) -> None:
        self.faults: list[Fault] = []
        self.random = random.Random(seed)

    def add(self, spec: dict) -> Fault:
        error = str(spec["error"])
        catalog_error(error)  # validate
        probability = spec.get("probability")
        count = spec.get("count")
        if count is None and probability is None:
            count = 1
        method = spec.get("method")
        fault = Fault(error=error, count=None if count is None else int(count),
                      method=method.lower() if method else None,
                      probability=None if probability is None else float(probability),
                      seconds=float(spec.get("seconds") or 0), contains=spec.get("contains") or None)
        self.faults.append(fault)
        return fault

    def clear(self) -> None:
        self.faults.clear()

    def strike(self, method: str, *, outer: bool) -> str | None:
        """The error to answer this call with, if a fault applies. Faults without a method hit only
        whole HTTP requests (`outer`); faults naming a method hit that method, in a batch too."""
        fault = self._take(method, outer=outer, delay=False)
        return fault.error if fault else None

    def delay_after(self, method: str, text: str = "") -> float:
        """Seconds to hold back the answer of this HTTP request after running it (a DELAY_AFTER fault)."""
        fault = self._take(method, outer=True, delay=True, text=text)
        return fault.seconds if fault else 0.0

    def _take(self, method: str, *, outer: bool, delay: bool, text: str = "") -> Fault | None:
        method = method.lower()
        for fault in list(self.faults):
            if (fault.error == DELAY_AFTER) != delay:
                continue
            if fault.contains and fault.contains not in text:
                continue
            if fault.method is None and not outer:
                continue
            if fault.method is not None and fault.method != method:
                continue
            if fault.probability is not None and self.random.random() >= fault.probability:
                continue
            fault.hits += 1
            if fault.count is not None:
                fault.count -= 1
                if fault.count <= 0:
                    self.faults.remove(fault)
            return fault
        return None
