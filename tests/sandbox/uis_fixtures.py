"""Shared pieces of the UIS sandbox tests: the sandbox, its Data API, a loopback hook server, the fixtures."""
from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from bx_app.sandbox.uis import create_uis_app
from tests.conftest import reference_fixture

TOKEN = "sandbox-uis-token"
DAY = {"date_from": "2025-11-20 00:00:00", "date_till": "2025-11-20 23:59:59"}


def reference(name: str) -> dict:
    """A UIS reference fixture (tests/fixtures/uis) without its _source/_note."""
    return reference_fixture(f"uis/{name}")


def rpc(web, method, params=None, token=TOKEN):
    params = dict(params or {})
    params["access_token"] = token
    return web.post("/v2.0", json={"jsonrpc": "2.0", "id": "t", "method": method, "params": params}).get_json()


def data(reply):
    assert "result" in reply, reply
    return reply["result"]["data"]


def mnemonic(reply):
    return reply["error"]["data"]["mnemonic"]


@pytest.fixture
def sandbox():
    return create_uis_app()


@pytest.fixture
def web(sandbox):
    return sandbox.test_client()


@pytest.fixture
def hook_server():
    """A hook URL that records every request (method, path, body) in arrival order."""
    received = []

    class Handler(BaseHTTPRequestHandler):
        def _record(self):
            length = int(self.headers.get("Content-Length") or 0)
            received.append({"method": self.command, "path": self.path,
                             "body": self.rfile.read(length).decode() if length else ""})
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"ok")

        def do_POST(self):  # noqa: N802 - http.server's naming
            self._record()

        def do_GET(self):  # noqa: N802
            self._record()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", received
    server.shutdown()
    server.server_close()
