"""Token refresh for a stored portal: single-flight across threads and processes, dead grants stop."""
from __future__ import annotations

import json
import multiprocessing
import threading
import time
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest
from redis import Redis

from bx_app.bitrix.errors import PortalNeedsReauth
from bx_app.bitrix.oauth import OAuthServer, TokenSet
from bx_app.extensions import db
from bx_app.models import Portal
from bx_app.models.account import PortalStatus
from bx_app.models.timeutil import utcnow
from bx_app.portal_auth import PortalTokenSource, client_for_portal, store_tokens
from tests.conftest import TEST_CONFIG

MEMBER_ID = "e31ab643c44f7a0ec824b59d1194d60d"


class FakeBitrix:
    """One process-local HTTP server: the OAuth token endpoint and the portal's REST endpoint.

    Refresh tokens rotate; a reused one gets invalid_grant (as Bitrix24 does); each refresh is counted.
    Only the newest access token is accepted by REST; any other gets 401 expired_token.
    """

    def __init__(self, refresh_delay=0.3):
        self.lock = threading.Lock()
        self.refresh_delay = refresh_delay
        self.valid_access: str | None = None
        self.valid_refresh = "ref-0"
        self.refreshes = 0  # successful refreshes
        self.refresh_attempts = 0
        self.rest_calls = 0
        self.generation = 0
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _send(self, status, body):
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                url = urlsplit(self.path)
                if url.path != "/oauth/token/":
                    return self._send(404, {"error": "not_found"})
                status, body = fake.token(parse_qs(url.query))
                self._send(status, body)

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                with fake.lock:
                    fake.rest_calls += 1
                    valid = fake.valid_access
                if body.get("auth") != valid:
                    return self._send(401, {"error": "expired_token",
                                            "error_description": "The access token provided has expired."})
                self._send(200, {"result": {"token": body["auth"]}, "time": {}})

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def token(self, query):
        q = {k: v[0] for k, v in query.items()}
        with self.lock:
            self.refresh_attempts += 1
            if q.get("client_id") != TEST_CONFIG["B24_CLIENT_ID"] or q.get("client_secret") != TEST_CONFIG[
                    "B24_CLIENT_SECRET"]:
                return 400, {"error": "invalid_client", "error_description": "Invalid client"}
            if q.get("grant_type") != "refresh_token" or q.get("refresh_token") != self.valid_refresh:
                return 400, {"error": "invalid_grant", "error_description": "Invalid grant"}
            self.valid_refresh = None  # used: a concurrent second use must fail
        time.sleep(self.refresh_delay)  # let the other workers pile up behind the lock
        with self.lock:
            self.generation += 1
            self.refreshes += 1
            n = self.generation
            self.valid_access, self.valid_refresh = f"acc-{n}", f"ref-{n}"
        return 200, {"access_token": f"acc-{n}", "refresh_token": f"ref-{n}", "expires_in": 3600,
                     "expires": int(time.time()) + 3600, "scope": "crm,user", "domain": "127.0.0.1",
                     "server_endpoint": f"http://127.0.0.1:{self.port}/rest/",
                     "client_endpoint": f"http://127.0.0.1:{self.port}/rest/", "member_id": MEMBER_ID,
                     "status": "L", "user_id": 1}

    @property
    def base(self):
        return f"http://127.0.0.1:{self.port}"

    def config(self, redis_url):
        # A portal on loopback is a development portal: only the insecure mode may reach it.
        return dict(TEST_CONFIG, B24_OAUTH_URL=f"{self.base}/oauth/token/", REDIS_URL=redis_url,
                    B24_ALLOW_INSECURE_PORTALS=True)


@pytest.fixture
def fake_bitrix():
    fake = FakeBitrix()
    fake.thread.start()
    yield fake
    fake.server.shutdown()
    fake.server.server_close()


@pytest.fixture
def portal(app, fake_bitrix):
    row = Portal(member_id=MEMBER_ID, domain=f"127.0.0.1:{fake_bitrix.port}",
                 client_endpoint=f"{fake_bitrix.base}/rest/", access_token="acc-0", refresh_token="ref-0",
                 expires_at=utcnow() + timedelta(minutes=30), status=PortalStatus.INSTALLED,
                 rate_per_second=100, bucket_size=1000)
    db.session.add(row)
    db.session.commit()
    return row


def read_portal(portal_id):
    db.session.expire_all()
    return db.session.get(Portal, portal_id)


def test_expired_token_from_20_threads_refreshes_exactly_once(app, portal, fake_bitrix, redis_url):
    config = fake_bitrix.config(redis_url)
    clients = [client_for_portal(portal.id, config) for _ in range(20)]
    barrier = threading.Barrier(20)
    seen, failures = [], []

    def work(client):
        barrier.wait()
        try:
            seen.append(client.call("app.info").result["token"])
        except Exception as exc:  # noqa: BLE001
            failures.append(exc)

    threads = [threading.Thread(target=work, args=(c,)) for c in clients]
    started = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    elapsed = time.monotonic() - started
    assert failures == []
    assert fake_bitrix.refreshes == 1 and fake_bitrix.refresh_attempts == 1
    assert seen == ["acc-1"] * 20
    row = read_portal(portal.id)
    assert (row.access_token, row.refresh_token) == ("acc-1", "ref-1")
    assert row.token_refreshed_at is not None and row.status == PortalStatus.INSTALLED
    assert sum(c.token_source.refresh_calls for c in clients) == 1
    assert elapsed < 10


def _process_worker(app, portal_id, config, barrier, results):
    # A forked "worker process": its own DB connections and Redis connections, the parent's fake servers.
    with app.app_context():
        db.engine.dispose(close=False)
        client = client_for_portal(portal_id, config)
        barrier.wait(10)
        try:
            results.put(("ok", client.call("app.info").result["token"]))
        except Exception as exc:  # noqa: BLE001
            results.put(("error", repr(exc)))


def test_expired_token_from_5_processes_refreshes_exactly_once(app, portal, fake_bitrix, redis_url):
    ctx = multiprocessing.get_context("fork")
    config = fake_bitrix.config(redis_url)
    barrier = ctx.Barrier(5)
    results = ctx.Queue()
    portal_id = portal.id
    db.session.remove()
    db.engine.dispose()  # no connection shared across fork
    processes = [ctx.Process(target=_process_worker, args=(app, portal_id, config, barrier, results))
                 for _ in range(5)]
    for p in processes:
        p.start()
    outcomes = [results.get(timeout=30) for _ in processes]
    for p in processes:
        p.join(10)
        assert p.exitcode == 0
    assert outcomes == [("ok", "acc-1")] * 5
    assert fake_bitrix.refreshes == 1 and fake_bitrix.refresh_attempts == 1
    row = read_portal(portal_id)
    assert (row.access_token, row.refresh_token) == ("acc-1", "ref-1")


def test_invalid_grant_marks_the_portal_and_does_not_loop(app, portal, fake_bitrix, redis_url):
    fake_bitrix.valid_refresh = "someone-elses"  # our stored ref-0 is dead
    client = client_for_portal(portal.id, fake_bitrix.config(redis_url))
    with pytest.raises(PortalNeedsReauth) as info:
        client.call("app.info")
    assert fake_bitrix.refresh_attempts == 1 and fake_bitrix.rest_calls == 1
    assert isinstance(info.value.__cause__, Exception) and "invalid_grant" in str(info.value)
    row = read_portal(portal.id)
    assert row.status == PortalStatus.NEEDS_REAUTH and "invalid_grant" in row.status_reason
    # Later calls stop before any HTTP request.
    with pytest.raises(PortalNeedsReauth):
        client_for_portal(portal.id, fake_bitrix.config(redis_url)).call("app.info")
    assert fake_bitrix.refresh_attempts == 1 and fake_bitrix.rest_calls == 1


def test_token_close_to_expiry_is_refreshed_before_the_call(app, portal, fake_bitrix, redis_url):
    portal.expires_at = utcnow() + timedelta(seconds=20)
    db.session.commit()
    client = client_for_portal(portal.id, fake_bitrix.config(redis_url))
    assert client.call("app.info").result["token"] == "acc-1"
    assert fake_bitrix.refreshes == 1 and fake_bitrix.rest_calls == 1  # no 401 round trip
    assert client.stats.refreshes == 0


def test_refresh_with_a_stale_token_already_replaced_does_not_call_oauth(app, portal, fake_bitrix, redis_url):
    source = PortalTokenSource(portal.id, OAuthServer(f"{fake_bitrix.base}/oauth/token/", "x", "y"),
                               Redis.from_url(redis_url))
    assert source.refresh("some-older-token") == "acc-0"
    assert fake_bitrix.refresh_attempts == 0


def test_redis_down_still_single_flight_within_the_process(app, portal, fake_bitrix, redis_url):
    dead = Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.2)
    config = fake_bitrix.config(redis_url)
    sources = [PortalTokenSource(portal.id, OAuthServer(config["B24_OAUTH_URL"], config["B24_CLIENT_ID"],
                                                        config["B24_CLIENT_SECRET"]), dead) for _ in range(8)]
    tokens = []
    threads = [threading.Thread(target=lambda s=s: tokens.append(s.refresh("acc-0"))) for s in sources]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    assert tokens == ["acc-1"] * 8 and fake_bitrix.refreshes == 1


def test_client_for_portal_uses_the_portal_limits_and_remembers_a_rename(app, portal, fake_bitrix, redis_url):
    client = client_for_portal(portal.id, fake_bitrix.config(redis_url))
    assert client.limiter.rate == 100 and client.limiter.capacity == 998
    assert client.limiter.key.endswith(MEMBER_ID)
    client.on_endpoint_change("https://renamed.bitrix24.ru/rest/")
    row = read_portal(portal.id)
    assert row.client_endpoint == "https://renamed.bitrix24.ru/rest/" and row.domain == "renamed.bitrix24.ru"


def test_store_tokens(app, portal):
    tokens = TokenSet(access_token="A", refresh_token="R", expires_at=utcnow() + timedelta(hours=1),
                      scope="crm", server_endpoint="https://oauth.bitrix.info/rest/")
    store_tokens(portal, tokens)
    db.session.commit()
    row = read_portal(portal.id)
    assert (row.access_token, row.refresh_token, row.scope) == ("A", "R", "crm")
    assert row.expires_at == tokens.expires_at
    raw = db.session.execute(db.text("select access_token from portal where id=:i"), {"i": portal.id}).scalar()
    assert raw != "A"  # encrypted at rest
