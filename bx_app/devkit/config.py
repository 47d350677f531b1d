"""The app's configuration for tests and benchmarks, and a free loopback port."""
from __future__ import annotations

import socket

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
