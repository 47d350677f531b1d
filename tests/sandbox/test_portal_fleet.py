"""Many portals in one sandbox process, created through its control API (issue 16 item 3), each with its own
CRM, tokens and 2 req/s, burst 50 bucket."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from tests.conftest import free_port

pytest_plugins = ["tests.sandbox.portal_fixtures"]
ROOT = Path(__file__).resolve().parents[2]


def test_control_api_adds_portals_with_their_own_buckets(sandbox):
    created = sandbox.oauth.post("/sandbox/portals", json={"count": 3})
    assert created.status_code == 201
    portals = created.get_json()["portals"]
    assert len({p["port"] for p in portals}) == len({p["member_id"] for p in portals}) == 3
    assert all(p["region"] == "global" and not p["installed"] for p in portals)
    listed = sandbox.oauth.get("/sandbox/portals").get_json()["portals"]
    assert [p["port"] for p in listed] == [8081, 8082, *(p["port"] for p in portals)]
    first, second = (sandbox.state.portal_apps[p["port"]].test_client() for p in portals[:2])
    tokens = [client.post("/sandbox/control", json={"install": True, "issue_tokens": {"user_id": 1}}).get_json()[
        "tokens"] for client in (first, second)]
    assert tokens[0]["client_endpoint"] == f"http://127.0.0.1:{portals[0]['port']}/rest/"
    statuses = [first.post("/rest/profile", json={"auth": tokens[0]["access_token"]}).status_code for _ in range(51)]
    assert statuses[:50] == [200] * 50 and statuses[50] == 503
    assert second.post("/rest/profile", json={"auth": tokens[1]["access_token"]}).status_code == 200
    # a token is only good on its own portal
    assert second.post("/rest/profile", json={"auth": tokens[0]["access_token"]}).status_code == 401


@pytest.mark.parametrize("payload", [{"count": 0}, {"count": 500}, {"region": "ru"}, {"ports": [8081]}, []])
def test_bad_portal_requests_are_refused_with_a_reason(sandbox, payload):
    response = sandbox.oauth.post("/sandbox/portals", json=payload)
    assert response.status_code == 400 and response.get_json()["error"]


def test_twenty_portals_served_by_one_process(tmp_path):
    oauth_port, portal_port = free_port(), free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "bx_app.sandbox", "--oauth-port", str(oauth_port), "--portal-ports", str(portal_port),
         "--uis-port", "0", "--app-url", "http://localhost:9"], cwd=ROOT, start_new_session=True,
        stdout=open(tmp_path / "sandbox.log", "wb"), stderr=subprocess.STDOUT)  # noqa: SIM115
    try:
        base = f"http://127.0.0.1:{oauth_port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                requests.get(f"{base}/sandbox/portals", timeout=2)
                break
            except requests.RequestException:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise AssertionError((tmp_path / "sandbox.log").read_text()) from None
                time.sleep(0.1)
        created = requests.post(f"{base}/sandbox/portals", json={"count": 20}, timeout=30)
        assert created.status_code == 201
        portals = created.json()["portals"]
        assert len(portals) == 20 and len({p["port"] for p in portals}) == 20
        for portal in portals:
            url = portal["url"].rstrip("/")
            answer = requests.post(f"{url}/sandbox/control",
                                   json={"install": True, "issue_tokens": {"user_id": 1}}, timeout=10).json()
            lead = requests.post(f"{url}/rest/crm.lead.add.json", timeout=10, json={
                "auth": answer["tokens"]["access_token"], "fields": {"TITLE": portal["domain"]}}).json()
            assert isinstance(lead["result"], int)
            state = requests.get(f"{url}/sandbox/state.json", timeout=10).json()
            assert [item["TITLE"] for item in state["leads"]] == [portal["domain"]]
            assert state["bucket"]["capacity"] == 50 and state["bucket"]["rate"] == 2
        stats = requests.get(f"{base}/sandbox/stats.json", timeout=10).json()
        assert len(stats["portals"]) == 21
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=10)
