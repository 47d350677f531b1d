"""The Redis-shared leaky bucket keeps a burst under the portal's limit, across instances and processes."""
from __future__ import annotations

import json
import logging
import threading
import time

import pytest
import responses
from redis import Redis

from bx_app.bitrix.client import PortalClient
from bx_app.bitrix.limiter import LocalRateLimiter, PortalRateLimiter

ENDPOINT = "https://example.bitrix24.ru/rest/"


class FakeClock:
    def __init__(self, start=1_000_000.0):
        self.now = start
        self.lock = threading.Lock()

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        with self.lock:
            self.now += seconds


class PortalBucket:
    """The portal's side: +1 per request, drains `rate`/s, QUERY_LIMIT_EXCEEDED above `capacity`."""

    def __init__(self, rate, capacity, clock):
        self.rate, self.capacity, self.clock = rate, capacity, clock
        self.level, self.ts = 0.0, clock()
        self.served = self.rejected = 0
        self.peak = 0.0
        self.lock = threading.Lock()

    def reply(self, request):
        with self.lock:
            now = self.clock()
            self.level = max(0.0, self.level - (now - self.ts) * self.rate)
            self.ts = now
            if self.level + 1 > self.capacity:
                self.rejected += 1
                return 503, {}, json.dumps({"error": "QUERY_LIMIT_EXCEEDED", "error_description": "Too many requests"})
            self.level += 1
            self.peak = max(self.peak, self.level)
            self.served += 1
            return 200, {}, json.dumps({"result": self.served})


class Tokens:
    def access_token(self):
        return "token"

    def refresh(self, stale):
        raise AssertionError("no refresh expected")


@responses.activate
def test_burst_of_200_against_the_portal_bucket_gets_no_limit_error(redis_url):
    clock = FakeClock()
    portal = PortalBucket(rate=2, capacity=50, clock=clock)
    responses.add_callback(responses.POST, ENDPOINT + "app.info", callback=portal.reply)
    limiter = PortalRateLimiter(Redis.from_url(redis_url), "member-burst", rate=2, capacity=50,
                                clock=clock, sleep=clock.sleep)
    client = PortalClient(ENDPOINT, Tokens(), limiter=limiter, sleep=clock.sleep, max_retries=0)
    started = clock()
    for _ in range(200):
        client.call("app.info")
    elapsed = clock() - started
    assert portal.rejected == 0 and client.stats.limit_errors == 0
    assert portal.served == 200 and client.stats.requests == 200
    # 48 at once (capacity 50 minus the safety margin of 2), then 2 per second: (200 - 48) / 2 = 76 s.
    assert 75.9 <= elapsed <= 76.5
    assert portal.peak <= 48


def test_two_instances_share_one_bucket(redis_url):
    clock = FakeClock()
    redis = Redis.from_url(redis_url)
    first = PortalRateLimiter(redis, "member-shared", rate=2, capacity=50, clock=clock, sleep=clock.sleep)
    second = PortalRateLimiter(redis, "member-shared", rate=2, capacity=50, clock=clock, sleep=clock.sleep)
    other_portal = PortalRateLimiter(redis, "member-other", rate=2, capacity=50, clock=clock, sleep=clock.sleep)
    for _ in range(24):
        assert first.try_acquire() == 0.0
        assert second.try_acquire() == 0.0
    assert first.try_acquire() == pytest.approx(0.5)
    assert second.try_acquire() == pytest.approx(0.5)
    assert other_portal.try_acquire() == 0.0  # buckets are per portal
    clock.sleep(0.5)
    assert second.try_acquire() == 0.0
    assert first.try_acquire() == pytest.approx(0.5)
    assert second.acquire() == pytest.approx(0.5)


def test_per_portal_rate_and_capacity(redis_url):
    clock = FakeClock()
    limiter = PortalRateLimiter(Redis.from_url(redis_url), "member-enterprise", rate=5, capacity=250,
                                safety_margin=0, clock=clock, sleep=clock.sleep)
    admitted = sum(1 for _ in range(300) if limiter.try_acquire() == 0.0)
    assert admitted == 250
    assert limiter.try_acquire() == pytest.approx(0.2)


def test_note_overflow_fills_the_bucket(redis_url):
    clock = FakeClock()
    limiter = PortalRateLimiter(Redis.from_url(redis_url), "member-full", rate=2, capacity=50, clock=clock,
                                sleep=clock.sleep)
    limiter.note_overflow()
    assert limiter.try_acquire() == pytest.approx(0.5)


def test_real_clock_threads_with_separate_instances_stay_under_the_limit(redis_url):
    # Real time, faster bucket (20/s, 10 burst) so the test takes about 3 s: 2 "workers", 60 requests.
    portal = PortalBucket(rate=20, capacity=10, clock=time.monotonic)
    redis = Redis.from_url(redis_url)
    errors = []

    def worker():
        limiter = PortalRateLimiter(redis, "member-real", rate=20, capacity=10)
        for _ in range(30):
            limiter.acquire()
            status, _, _ = portal.reply(None)
            if status != 200:
                errors.append(status)

    started = time.monotonic()
    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - started
    assert errors == [] and portal.rejected == 0 and portal.served == 60
    assert elapsed >= (60 - 8) / 20 * 0.9


def test_redis_down_falls_back_to_a_process_bucket(caplog):
    clock = FakeClock()
    dead = Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.2)
    limiter = PortalRateLimiter(dead, "member-no-redis", rate=2, capacity=10, clock=clock, sleep=clock.sleep)
    with caplog.at_level(logging.WARNING, logger="bx_app.bitrix.limiter"):
        admitted = sum(1 for _ in range(20) if limiter.try_acquire() == 0.0)
    assert admitted == 8
    assert "Redis unavailable" in caplog.text
    # another instance in the same process shares the fallback bucket
    twin = PortalRateLimiter(dead, "member-no-redis", rate=2, capacity=10, clock=clock, sleep=clock.sleep)
    assert twin.try_acquire() > 0


def test_local_limiter_counts_like_the_portal():
    clock = FakeClock()
    limiter = LocalRateLimiter(2, 50, clock=clock, sleep=clock.sleep)
    assert sum(1 for _ in range(60) if limiter.try_acquire() == 0.0) == 48
    waited = limiter.acquire()
    assert waited == pytest.approx(0.5)


@pytest.mark.parametrize("shared", [True, False], ids=["redis", "local"])
def test_asking_how_long_a_group_would_wait_admits_nothing(redis_url, shared):
    clock = FakeClock()
    limiter = (PortalRateLimiter(Redis.from_url(redis_url), "member-peek", rate=2, capacity=10, safety_margin=0,
                                 clock=clock, sleep=clock.sleep) if shared
               else LocalRateLimiter(2, 10, safety_margin=0, clock=clock, sleep=clock.sleep))
    assert sum(1 for _ in range(8) if limiter.try_acquire() == 0.0) == 8

    assert limiter.wait_for(2) == 0.0
    assert limiter.wait_for(5) == pytest.approx(1.5)  # 3 over the capacity at 2 a second
    assert limiter.wait_for(2) == 0.0  # still: the questions took nothing
    clock.sleep(1.5)  # 3 leaked out
    assert limiter.wait_for(5) == 0.0
