"""The whole system as real processes for end-to-end tests: Redis, sandbox, web app (gunicorn), worker."""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import requests

from bx_app.devkit.config import wait_http
from tests.conftest import free_port

ROOT = Path(__file__).resolve().parents[2]
CLIENT_ID = "app.sandbox.uis20"
CLIENT_SECRET = "sandbox-secret"


@dataclass
class Stack:
    workdir: Path
    redis_port: int = field(default_factory=free_port)
    web_port: int = field(default_factory=free_port)
    oauth_port: int = field(default_factory=free_port)
    ru_oauth_port: int = field(default_factory=free_port)  # the Russian region's server; the second portal's
    portal_ports: tuple[int, int] = field(default_factory=lambda: (free_port(), free_port()))
    uis_port: int = field(default_factory=free_port)
    procs: dict[str, subprocess.Popen] = field(default_factory=dict)
    extra_env: dict = field(default_factory=dict)

    @property
    def app_url(self) -> str:
        return f"http://localhost:{self.web_port}"

    @property
    def portal_url(self) -> str:
        return f"http://127.0.0.1:{self.portal_ports[0]}"

    @property
    def second_portal_url(self) -> str:
        return f"http://127.0.0.1:{self.portal_ports[1]}"

    @property
    def uis_url(self) -> str:
        return f"http://127.0.0.1:{self.uis_port}"

    @property
    def redis_url(self) -> str:
        return f"redis://127.0.0.1:{self.redis_port}/0"

    def env(self) -> dict:
        env = dict(os.environ)
        env.update({
            "SECRET_KEY": "e2e-secret",
            "DATABASE_URL": f"sqlite:///{self.workdir / 'app.db'}",
            "REDIS_URL": self.redis_url,
            "PUBLIC_URL": self.app_url,
            "B24_CLIENT_ID": CLIENT_ID,
            "B24_CLIENT_SECRET": CLIENT_SECRET,
            "B24_OAUTH_URL": f"http://127.0.0.1:{self.oauth_port}/oauth/token/",
            "B24_EXTRA_OAUTH_URLS": f"http://127.0.0.1:{self.ru_oauth_port}/oauth/token/",
            "B24_ALLOW_INSECURE_PORTALS": "1",
            "B24_JS_URL": f"{self.portal_url}/bx24.js",
            "UIS_DATA_API_URL": f"{self.uis_url}/v2.0",
            "UIS_POLL_SECONDS": "5",
            "EVENT_LOCK_SECONDS": "5",
            "SWEEP_SECONDS": "3",
            "PYTHONUNBUFFERED": "1",
        })
        env.update(self.extra_env)
        return env

    def _spawn(self, name: str, args: list[str]) -> subprocess.Popen:
        log = open(self.workdir / f"{name}.log", "ab")  # noqa: SIM115 - closed with the process
        proc = subprocess.Popen(args, cwd=ROOT, env=self.env(), stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)
        self.procs[name] = proc
        return proc

    def start_redis(self) -> None:
        self._spawn("redis", [shutil.which("redis-server"), "--port", str(self.redis_port), "--bind", "127.0.0.1",
                              "--save", "", "--appendonly", "no", "--dir", str(self.workdir)])

    def start_sandbox(self) -> None:
        proc = self._spawn("sandbox", [sys.executable, "-m", "bx_app.sandbox", "--host", "127.0.0.1",
                                       "--oauth-port", str(self.oauth_port),
                                       "--ru-oauth-port", str(self.ru_oauth_port),
                                       "--portal-ports", ",".join(map(str, self.portal_ports)),
                                       "--uis-port", str(self.uis_port), "--app-url", self.app_url,
                                       "--client-id", CLIENT_ID, "--client-secret", CLIENT_SECRET])
        wait_http(f"{self.portal_url}/sandbox/state.json", proc=proc)
        wait_http(f"{self.uis_url}/control/state.json", proc=proc)

    def start_web(self) -> None:
        subprocess.run([sys.executable, "-m", "flask", "--app", "wsgi", "db", "upgrade"], cwd=ROOT,
                       env=self.env(), check=True, capture_output=True)
        proc = self._spawn("web", [str(Path(sys.executable).with_name("gunicorn")), "wsgi:app", "--bind",
                                   f"127.0.0.1:{self.web_port}", "--workers", "2", "--threads", "4"])
        wait_http(f"http://127.0.0.1:{self.web_port}/healthz", proc=proc)

    def start_worker(self) -> subprocess.Popen:
        return self._spawn("worker", [sys.executable, "-m", "flask", "--app", "wsgi", "worker"])

    def start_scheduler(self) -> subprocess.Popen:
        """The deployment's one periodic schedule (polls, sweeper, token keep-alive, sync)."""
        return self._spawn("scheduler", [sys.executable, "-m", "flask", "--app", "wsgi", "scheduler"])

    def kill(self, name: str, sig: int = signal.SIGTERM) -> None:
        proc = self.procs.pop(name, None)
        if proc is None or proc.poll() is not None:
            return
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)

    def start(self) -> Stack:
        self.start_redis()
        self.start_sandbox()
        self.start_web()
        self.start_worker()
        self.start_scheduler()
        return self

    def stop(self) -> None:
        for name in list(self.procs)[::-1]:
            self.kill(name)

    # --- sandbox helpers -----------------------------------------------------------------------
    def portal_state(self, portal_url: str | None = None) -> dict:
        return requests.get(f"{portal_url or self.portal_url}/sandbox/state.json", timeout=10).json()

    def portal_control(self, payload: dict, portal_url: str | None = None) -> dict:
        response = requests.post(f"{portal_url or self.portal_url}/sandbox/control", json=payload, timeout=10)
        response.raise_for_status()
        return response.json()

    def oauth_stats(self, region: str = "global") -> dict:
        port = self.oauth_port if region == "global" else self.ru_oauth_port
        return requests.get(f"http://127.0.0.1:{port}/sandbox/stats.json", timeout=10).json()

    def uis_state(self) -> dict:
        return requests.get(f"{self.uis_url}/control/state.json", timeout=10).json()

    def uis_control(self, path: str, payload: dict) -> dict:
        response = requests.post(f"{self.uis_url}{path}", json=payload, timeout=30)
        response.raise_for_status()
        return response.json()

    def logs(self) -> str:
        return "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-4000:]}"
                         for p in sorted(self.workdir.glob("*.log")))
