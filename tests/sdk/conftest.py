"""The sandbox as a real process serving HTTPS, trusted through its own certificate authority, for b24pysdk."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from tests.conftest import free_port

ROOT = Path(__file__).resolve().parents[2]
CLIENT_ID = "app.sandbox.uis20"
CLIENT_SECRET = "sandbox-secret"


@dataclass
class TlsSandbox:
    """`python -m bx_app.sandbox --tls`: a global and a Russian authorization server, two portals (the second
    one Russian), all over HTTPS on loopback."""

    ca_path: Path
    oauth_port: int
    ru_oauth_port: int
    portal_ports: tuple[int, int]

    def portal_domain(self, index: int = 0) -> str:
        return f"127.0.0.1:{self.portal_ports[index]}"

    def portal_url(self, index: int = 0) -> str:
        return f"https://{self.portal_domain(index)}"

    def oauth_url(self, region: str) -> str:
        return f"https://127.0.0.1:{self.oauth_port if region == 'global' else self.ru_oauth_port}"

    def control(self, payload: dict, index: int = 0) -> dict:
        response = requests.post(f"{self.portal_url(index)}/sandbox/control", json=payload, timeout=10,
                                 verify=str(self.ca_path))
        response.raise_for_status()
        return response.json()

    def state(self, index: int = 0) -> dict:
        return requests.get(f"{self.portal_url(index)}/sandbox/state.json", timeout=10,
                            verify=str(self.ca_path)).json()

    def oauth_stats(self, region: str) -> dict:
        return requests.get(f"{self.oauth_url(region)}/sandbox/stats.json", timeout=10,
                            verify=str(self.ca_path)).json()


@pytest.fixture(scope="session")
def tls_sandbox(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("tls-sandbox")
    sandbox = TlsSandbox(ca_path=workdir / "tls" / "ca.pem", oauth_port=free_port(), ru_oauth_port=free_port(),
                         portal_ports=(free_port(), free_port()))
    log = open(workdir / "sandbox.log", "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        [sys.executable, "-m", "bx_app.sandbox", "--host", "127.0.0.1", "--tls", "--tls-dir", str(workdir / "tls"),
         "--oauth-port", str(sandbox.oauth_port), "--ru-oauth-port", str(sandbox.ru_oauth_port),
         "--portal-ports", ",".join(map(str, sandbox.portal_ports)), "--uis-port", "0",
         "--app-url", "http://localhost:9", "--client-id", CLIENT_ID, "--client-secret", CLIENT_SECRET],
        cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"})
    deadline = time.monotonic() + 30
    while True:
        if proc.poll() is not None:
            raise RuntimeError((workdir / "sandbox.log").read_text(errors="replace"))
        try:
            if sandbox.ca_path.exists():
                sandbox.state(1)
                sandbox.oauth_stats("ru")
                break
        except (requests.RequestException, ValueError):
            pass
        if time.monotonic() > deadline:
            raise RuntimeError("the TLS sandbox did not come up: "
                               + (workdir / "sandbox.log").read_text(errors="replace"))
        time.sleep(0.1)
    yield sandbox
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=5)
    log.close()


@pytest.fixture
def trusted(tls_sandbox, monkeypatch):
    """requests (and so b24pysdk) trusts the sandbox's certificate authority, and only that."""
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(tls_sandbox.ca_path))
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    return tls_sandbox
