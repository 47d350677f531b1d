"""Rate limits on the public endpoints: 429 with Retry-After and a readable page; counters in Redis."""
from __future__ import annotations

import pytest
import responses

from tests.conftest import TEST_CONFIG, reference_fixture
from tests.unit.factories import two_accounts

DATA_API = TEST_CONFIG["UIS_DATA_API_URL"]


@pytest.fixture
def data_api_refuses():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        rsps.post(DATA_API, json=reference_fixture("uis/error_access_token_invalid.json"))
        yield rsps


def test_uis_sign_in_is_limited_per_address(app, client, data_api_refuses):
    app.config["RATELIMIT_SIGN_IN_ADDRESS"] = "3 per minute"
    answers = [client.post("/uis/", data={"token": f"key-{i}"}).status_code for i in range(4)]
    assert answers[:3] == [400, 400, 400] and answers[3] == 429
    assert len(data_api_refuses.calls) == 3  # the refused try cost UIS nothing
    other_address = client.post("/uis/", data={"token": "key-x"}, environ_base={"REMOTE_ADDR": "10.1.2.3"})
    assert other_address.status_code == 400


def test_uis_sign_in_is_limited_per_key_tried_from_any_address(app, client, data_api_refuses):
    app.config["RATELIMIT_SIGN_IN_KEY"] = "2 per minute"
    answers = [client.post("/uis/", data={"token": "same-key"}, environ_base={"REMOTE_ADDR": f"10.0.0.{i}"})
               .status_code for i in range(3)]
    assert answers == [400, 400, 429]


def test_the_429_page_is_readable_and_says_when_to_retry(app, client, data_api_refuses):
    app.config["RATELIMIT_SIGN_IN_ADDRESS"] = "1 per minute"
    client.post("/uis/", data={"token": "a"})
    response = client.post("/uis/", data={"token": "b"})
    assert response.status_code == 429
    assert 1 <= int(response.headers["Retry-After"]) <= 60
    html = response.get_data(as_text=True)
    assert "Слишком много запросов" in html and "Повторите через" in html and "Traceback" not in html


def test_portal_posts_are_limited_per_address(app, client):
    app.config["RATELIMIT_PORTAL_POST"] = "2 per minute"
    for path in ("/install", "/app", "/app/session"):
        codes = [client.post(path, data={}).status_code for _ in range(3)]
        assert codes[:2] == [400, 400] and codes[2] == 429, (path, codes)
    client.post("/b24/events", data={})
    client.post("/b24/events", data={})
    response = client.post("/b24/events", data={})
    assert response.status_code == 429 and response.get_json()["retry_after"] >= 1
    assert "Retry-After" in response.headers
    assert client.post("/install", data={}, environ_base={"REMOTE_ADDR": "10.9.9.9"}).status_code == 400


def test_the_hook_is_limited_per_credential_and_generous_by_default(app, client):
    world = two_accounts()
    mine, other = world["mine"], world["other"]
    assert app.config["RATELIMIT_HOOK"] == "6000 per minute"
    app.config["RATELIMIT_HOOK"] = "3 per minute"
    body = reference_fixture("uis/notification_offline_message.json")
    codes = [client.post(f"/hooks/uis/{mine.hook_token}", json=body).status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]
    assert client.post(f"/hooks/uis/{other.hook_token}", json=body).status_code == 200  # its own budget


def test_limits_hold_across_processes_through_redis(app, redis_url, data_api_refuses):
    from redis import Redis

    app.config["RATELIMIT_SIGN_IN_ADDRESS"] = "5 per minute"
    app.test_client().post("/uis/", data={"token": "a"})
    assert any(b"bx:ratelimit" in key for key in Redis.from_url(redis_url).keys("*"))


def test_a_redis_outage_does_not_stop_the_hook(tmp_path, monkeypatch):
    from bx_app import create_app
    from bx_app.extensions import db
    from tests.conftest import free_port

    dead = f"redis://127.0.0.1:{free_port()}/0"
    app = create_app(dict(TEST_CONFIG, SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path / 'x.db'}", REDIS_URL=dead))
    with app.app_context():
        db.create_all()
        mine = two_accounts()["mine"]
        response = app.test_client().post(f"/hooks/uis/{mine.hook_token}",
                                          json=reference_fixture("uis/notification_offline_message.json"))
        assert response.status_code == 200
