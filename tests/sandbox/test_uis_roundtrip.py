"""DataApiClient (production) against the UIS sandbox served by werkzeug on a loopback port."""
from __future__ import annotations

import threading

import pytest
import requests
from werkzeug.serving import make_server

from bx_app.sandbox.uis import create_uis_app
from bx_app.uis import errors
from bx_app.uis.client import DataApiClient


@pytest.fixture
def sandbox_url():
    app = create_uis_app()
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


def control(base, path, body=None):
    response = requests.post(f"{base}/control/{path}", json=body or {}, timeout=10)
    response.raise_for_status()
    return response.json()


def test_client_round_trip(sandbox_url):
    sleeps = []
    client = DataApiClient(f"{sandbox_url}/v2.0", "sandbox-uis-token", sleep=sleeps.append, jitter=lambda: 0.0)
    assert client.get_account() == {"app_id": 1103425, "name": "ООО «Пример»", "timezone": "Europe/Moscow"}
    for i in range(30):
        control(sandbox_url, "offline_messages", {"visitor_name": f"Гость {i}", "visitor_email": f"g{i}@example.ru",
                                                  "text": "Заявка", "site_id": 7301, "utm_source": "yandex",
                                                  "date_time": "2025-11-21 10:00:00"})
    # Paging at 7 rows a page over 32 rows, with the client's full field list accepted by the sandbox.
    rows = client.get_offline_messages("2025-11-01 00:00:00", "2025-11-30 23:59:59", page_size=7)
    assert len(rows) == 32 and len({r["id"] for r in rows}) == 32
    assert rows[-1]["visitor_email"] and rows[-1]["site_domain_name"] == "shop.example.ru"
    chats = client.get_chats("2025-11-20 00:00:00", "2025-11-20 23:59:59",
                             filter={"field": "status", "operator": "in", "value": ["new", "active"]})
    assert [c["id"] for c in chats] == [880011224]
    messages = client.get_chat_messages(chat_ids=[880011223])
    assert [m["id"] for m in messages] == sorted(m["id"] for m in messages)
    assert len(client.get_employees()) == 4 and len(client.get_sites()) == 2 and len(client.get_chat_channels()) == 4
    assert client.get_visitors([5123456701])[0]["name"] == "Анна"
    assert len(client.get_calls("2025-11-20 00:00:00", "2025-11-20 23:59:59")) == 2
    assert sleeps == []


def test_client_meets_sandbox_faults(sandbox_url):
    sleeps = []
    client = DataApiClient(f"{sandbox_url}/v2.0", "sandbox-uis-token", sleep=sleeps.append, jitter=lambda: 0.0)
    control(sandbox_url, "config", {"fail_next": {"mnemonic": "internal_error", "count": 1}})
    assert client.get_account()["app_id"] == 1103425 and sleeps == [1.0]
    control(sandbox_url, "config", {"fail_next": {"mnemonic": "limit_exceeded", "limit_type": "minute",
                                                   "reset": 7}})
    client.get_account()
    assert sleeps[-1] == 7
    control(sandbox_url, "config", {"day_remaining": 0})
    with pytest.raises(errors.LimitExceeded) as caught:
        client.get_account()
    assert caught.value.per_day
    control(sandbox_url, "config", {"day_remaining": 100, "ip_allowlist_enabled": True,
                                    "allowed_ips": ["10.0.0.1"], "caller_ip": "198.51.100.4"})
    with pytest.raises(errors.IpNotWhitelisted) as denied:
        client.get_account()
    assert "198.51.100.4" in denied.value.user_message("ru")
    control(sandbox_url, "config", {"ip_allowlist_enabled": False, "tokens": {"sandbox-uis-token": "blocked"}})
    with pytest.raises(errors.AccessTokenBlocked):
        client.get_account()


def test_session_login_against_sandbox(sandbox_url):
    client = DataApiClient(f"{sandbox_url}/v2.0", None, login="sandbox", password="sandbox-password")
    assert client.get_account()["app_id"] == 1103425
    assert client.access_token and client.access_token != "sandbox-uis-token"
    with pytest.raises(errors.WrongLogin):
        DataApiClient(f"{sandbox_url}/v2.0", None, login="sandbox", password="wrong").get_account()
