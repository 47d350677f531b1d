"""Client-side copy of a portal's leaky bucket, shared by every process through Redis."""
from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable
from typing import Protocol

from redis.exceptions import RedisError

log = logging.getLogger(__name__)

DEFAULT_RATE = 2.0  # requests drained per second (Enterprise: 5)
DEFAULT_CAPACITY = 50  # bucket size (Enterprise: 250)
DEFAULT_SAFETY_MARGIN = 2  # stay this far below the portal's ceiling: its clock and ours differ a little

# One atomic step of the bucket. KEYS[1] = bucket; ARGV = rate, usable capacity, cost, now (or "" to use
# the Redis server's clock, which every process shares), mode ("take" or "fill").
# Returns the seconds to wait as a string (Lua numbers would be truncated to integers on the way out);
# "0" means the request was admitted and counted.
_BUCKET_LUA = """
local rate = tonumber(ARGV[1])
local capacity = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local now = tonumber(ARGV[4])
if now == nil then
  local t = redis.call('TIME')
  now = tonumber(t[1]) + tonumber(t[2]) / 1000000
end
local state = redis.call('HMGET', KEYS[1], 'level', 'ts')
local level = tonumber(state[1]) or 0
local ts = tonumber(state[2]) or now
local elapsed = now - ts
if elapsed < 0 then elapsed = 0 end
level = level - elapsed * rate
if level < 0 then level = 0 end
local wait = 0
if ARGV[5] == 'fill' then
  if level < capacity then level = capacity end
elseif level + cost > capacity then
  wait = (level + cost - capacity) / rate
elseif ARGV[5] ~= 'peek' then
  level = level + cost
end
redis.call('HSET', KEYS[1], 'level', tostring(level), 'ts', tostring(now))
redis.call('EXPIRE', KEYS[1], math.ceil(capacity / rate) + 60)
return tostring(wait)
"""


class RateLimiter(Protocol):
    def acquire(self) -> float: ...

    def try_acquire(self) -> float: ...

    def note_overflow(self) -> None: ...


def usable_capacity(capacity: float, safety_margin: float) -> float:
    # Never below 1, or a tiny bucket could never admit anything.
    return max(float(capacity) - float(safety_margin), 1.0)


class LocalRateLimiter:
    """The same leaky bucket inside one process (threads share it); the fallback when Redis is down."""

    def __init__(self, rate: float = DEFAULT_RATE, capacity: float = DEFAULT_CAPACITY,
                 safety_margin: float = DEFAULT_SAFETY_MARGIN, clock: Callable[[], float] | None = None,
                 sleep: Callable[[float], None] = time.sleep):
        self.rate = float(rate)
        self.capacity = usable_capacity(capacity, safety_margin)
        self._clock = clock or time.monotonic
        self._sleep = sleep
        self._lock = threading.Lock()
        self._level = 0.0
        self._ts: float | None = None

    def _drain(self, now: float) -> None:
        if self._ts is not None:
            self._level = max(0.0, self._level - max(0.0, now - self._ts) * self.rate)
        self._ts = now

    def try_acquire(self, cost: float = 1.0) -> float:
        with self._lock:
            self._drain(self._clock())
            if self._level + cost > self.capacity:
                return (self._level + cost - self.capacity) / self.rate
            self._level += cost
            return 0.0

    def wait_for(self, cost: float = 1.0) -> float:
        """Seconds until `cost` requests would be admitted, admitting nothing."""
        with self._lock:
            self._drain(self._clock())
            return max(0.0, (self._level + cost - self.capacity) / self.rate)

    def acquire(self, cost: float = 1.0) -> float:
        waited = 0.0
        while True:
            wait = self.try_acquire(cost)
            if wait <= 0:
                return waited
            self._sleep(wait)
            waited += wait

    def note_overflow(self) -> None:
        with self._lock:
            self._drain(self._clock())
            self._level = max(self._level, self.capacity)

    @property
    def level(self) -> float:
        with self._lock:
            self._drain(self._clock())
            return self._level


# Per-process fallback buckets, one per portal, so all clients of a portal in this process still share one.
_local_buckets: dict[tuple[str, float, float], LocalRateLimiter] = {}
_local_buckets_lock = threading.Lock()


def local_bucket(key: str, rate: float, capacity: float, safety_margin: float,
                 clock: Callable[[], float] | None = None,
                 sleep: Callable[[float], None] = time.sleep) -> LocalRateLimiter:
    with _local_buckets_lock:
        bucket_key = (key, float(rate), usable_capacity(capacity, safety_margin))
        bucket = _local_buckets.get(bucket_key)
        if bucket is None:
            bucket = LocalRateLimiter(rate, capacity, safety_margin, clock=clock, sleep=sleep)
            _local_buckets[bucket_key] = bucket
        return bucket


class PortalRateLimiter:
    """A portal's leaky bucket kept in Redis (key per member_id), so all workers and web processes share it.

    ``try_acquire()`` admits and counts one request (returns 0.0) or returns the seconds to wait;
    ``acquire()`` sleeps until admitted and returns the total wait. If Redis cannot be reached the
    limiter logs it and uses a per-process bucket until Redis answers again.
    """

    key_prefix = "bx:b24:bucket:"
    redis_retry_seconds = 5.0

    def __init__(self, redis, member_id: str, rate: float = DEFAULT_RATE, capacity: float = DEFAULT_CAPACITY,
                 safety_margin: float = DEFAULT_SAFETY_MARGIN, clock: Callable[[], float] | None = None,
                 sleep: Callable[[float], None] = time.sleep):
        if rate <= 0 or capacity <= 0:
            raise ValueError("rate and capacity must be positive")
        self.redis = redis
        self.member_id = member_id
        self.rate = float(rate)
        self.capacity = usable_capacity(capacity, safety_margin)
        self.key = f"{self.key_prefix}{member_id}"
        # A test clock is passed to Redis; in production Redis's own TIME is the one clock all hosts share.
        self._clock = clock
        self._sleep = sleep
        self._script = redis.register_script(_BUCKET_LUA) if redis is not None else None
        self._fallback = local_bucket(self.key, rate, capacity, safety_margin, clock=clock, sleep=sleep)
        self._redis_down_until = 0.0
        self.waited_seconds = 0.0  # total time acquire() slept, for benchmarks

    def _run(self, cost: float, mode: str) -> float | None:
        """Seconds to wait from Redis, or None when Redis is unavailable."""
        if self._script is None or time.monotonic() < self._redis_down_until:
            return None
        now = "" if self._clock is None else repr(float(self._clock()))
        try:
            return float(self._script(keys=[self.key], args=[self.rate, self.capacity, cost, now, mode]))
        except RedisError as exc:
            self._redis_down_until = time.monotonic() + self.redis_retry_seconds
            log.warning("rate limiter: Redis unavailable (%s); using a per-process bucket for member_id=%s "
                        "for %.0f s", exc, self.member_id, self.redis_retry_seconds)
            return None

    def try_acquire(self, cost: float = 1.0) -> float:
        wait = self._run(cost, "take")
        if wait is None:
            return self._fallback.try_acquire(cost)
        return wait

    def wait_for(self, cost: float = 1.0) -> float:
        """Seconds until `cost` requests would be admitted, admitting nothing (a drain asks before a group)."""
        wait = self._run(cost, "peek")
        if wait is None:
            return self._fallback.wait_for(cost)
        return wait

    def acquire(self, cost: float = 1.0) -> float:
        waited = 0.0
        while True:
            wait = self.try_acquire(cost)
            if wait <= 0:
                self.waited_seconds += waited
                return waited
            self._sleep(wait)
            waited += wait

    def note_overflow(self) -> None:
        """The portal said QUERY_LIMIT_EXCEEDED: someone else (another app on our IP) fills it; assume full."""
        if self._run(0, "fill") is None:
            self._fallback.note_overflow()

    def reset(self) -> None:
        with contextlib.suppress(RedisError):
            self.redis.delete(self.key)
