"""The app's configuration for tests and benchmarks, a free loopback port, and waiting for a started server."""
from __future__ import annotations

import socket
import subprocess
import time

import requests

TEST_CONFIG = {
    "TESTING": True,
    "SECRET_KEY": "test-secret-key",
    "WTF_CSRF_ENABLED": False,
    "B24_CLIENT_ID": "app.6650a1b2c3d4e5.12345678",
    "B24_CLIENT_SECRET": "q8Lr2Vt6Yb0Nm4Kx7Pz1Hc5Jw9Ds3Fg6Ue0Ia2Ob4Qn8Rk1Tl",
    "B24_OAUTH_URL": "https://oauth.bitrix.info/oauth/token/",
    "PUBLIC_URL": "https://uis-app.example.com",
    "UIS_DATA_API_URL": "https://dataapi.uiscom.ru/v2.0",
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url: str, timeout: float = 30.0, proc: subprocess.Popen | None = None) -> None:
    """Until `url` answers below 500; RuntimeError when `proc` exits first or the time runs out."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process for {url} exited with {proc.returncode}")
        try:
            response = requests.get(url, timeout=2)
            if response.status_code < 500:
                return
            last = response.status_code
        except requests.RequestException as exc:
            last = exc
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not come up: {last}")
