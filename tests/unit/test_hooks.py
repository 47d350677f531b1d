"""Push intake: POST|GET /hooks/uis/<token> stores the event before answering, once, whatever the body."""
from __future__ import annotations

import json
from urllib.parse import urlencode

import pytest
from redis import Redis
from rq import Queue

from bx_app.extensions import db
from bx_app.intake import sweep_stranded
from bx_app.models import Event
from bx_app.models.event import EventStatus
from tests.conftest import reference_fixture
from tests.unit.factories import example_credential


@pytest.fixture
def credential(app):
    return example_credential()


def offline_notification() -> dict:
    return reference_fixture("uis/notification_offline_message.json")


def queued_ids(redis_url, portal_id: int = 1) -> list[int]:
    """Events waiting in the portal's pending set; exactly one drain job is queued for that portal."""
    redis = Redis.from_url(redis_url)
    pending = [int(m) for m in redis.zrange(f"bx:pending:{portal_id}", 0, -1)]
    drains = [job for job in Queue("events", connection=redis).jobs if job.func_name == "bx_app.jobs.drain_portal"]
    assert len(drains) == (1 if pending else 0)
    return pending


def test_offline_message_json_is_stored_then_queued(client, credential, redis_url):
    response = client.post(f"/hooks/uis/{credential.hook_token}", json=offline_notification())
    assert response.status_code == 200
    body = response.get_json()
    assert body == {"result": "accepted", "duplicate": False}  # no global counter leaks across tenants
    event = Event.query.one()
    assert (event.kind, event.stage, event.external_id, event.source) == ("offline_message", "arrived",
                                                                          "660012345", "push")
    assert event.payload["visitor_phone_number"] == "79167778899"
    assert event.status == EventStatus.NEW and event.enqueued_at is not None
    assert queued_ids(redis_url) == [event.id]


def test_duplicate_push_answers_2xx_and_creates_nothing_new(client, credential, redis_url):
    client.post(f"/hooks/uis/{credential.hook_token}", json=offline_notification())
    second = client.post(f"/hooks/uis/{credential.hook_token}", json=offline_notification())
    assert second.status_code == 200 and second.get_json() == {"result": "accepted", "duplicate": True}
    assert Event.query.count() == 1
    assert queued_ids(redis_url) == [Event.query.one().id]


def test_form_body_and_get_query_are_accepted(client, credential):
    fields = {"offline_message_id": "660012399", "visitor_name": "Сергей", "visitor_phone_number": "79167778899",
              "visitor_message": "Перезвоните"}
    assert client.post(f"/hooks/uis/{credential.hook_token}", data=fields).status_code == 200
    query = dict(fields, offline_message_id="660012400")
    assert client.get(f"/hooks/uis/{credential.hook_token}?{urlencode(query)}").status_code == 200
    assert {e.external_id for e in Event.query.all()} == {"660012399", "660012400"}


def test_unknown_hook_token_is_404_and_stores_nothing(client, credential):
    response = client.post("/hooks/uis/not-a-token", json=offline_notification())
    assert response.status_code == 404
    assert Event.query.count() == 0


@pytest.mark.parametrize("body,content_type,status", [
    (b"{not json", "application/json", 400),
    (b"[1, 2]", "application/json", 400),
    (b"\xff\xfe{}", "application/json", 400),
    (json.dumps({"visitor_name": "no id"}).encode(), "application/json", 400),
    (json.dumps({"offline_message_id": "abc"}).encode(), "application/json", 400),
])
def test_bad_bodies_get_a_reason_and_a_journal_entry(client, credential, body, content_type, status):
    response = client.post(f"/hooks/uis/{credential.hook_token}", data=body, content_type=content_type)
    assert response.status_code == status
    assert response.get_json()["reason"]
    rows = Event.query.all()
    assert len(rows) == 1 and rows[0].status == EventStatus.SKIPPED and rows[0].reason.startswith("rejected")


def test_huge_body_is_refused(client, credential):
    body = json.dumps({"offline_message_id": 1, "visitor_message": "x" * (1024 * 1024 + 10)})
    response = client.post(f"/hooks/uis/{credential.hook_token}", data=body, content_type="application/json")
    assert response.status_code == 413
    assert Event.query.filter(Event.kind == "offline_message").count() == 0


def test_redis_down_still_stores_and_the_sweeper_queues_later(app, client, credential, redis_url):
    app.config["REDIS_URL"] = "redis://127.0.0.1:1/0"
    response = client.post(f"/hooks/uis/{credential.hook_token}", json=offline_notification())
    assert response.status_code == 200
    event = Event.query.one()
    assert event.enqueued_at is None
    app.config["REDIS_URL"] = redis_url
    event.created_at = event.created_at.replace(year=2020)
    db.session.commit()
    assert sweep_stranded() == 1
    assert queued_ids(redis_url) == [event.id]
