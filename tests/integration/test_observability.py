"""What an operator sees: /metrics in Prometheus format and one JSON log line per processed event."""
from __future__ import annotations

import contextlib
import json
import logging

from prometheus_client.parser import text_string_to_metric_families

from bx_app import intake, jobs
from bx_app.models.event import EventStatus


def _samples(client) -> dict[tuple, float]:
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/plain; version=")
    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(response.get_data(as_text=True))
            for sample in family.samples}


def test_a_processed_request_shows_in_metrics_and_in_one_json_log_line(world, app, caplog):
    client = app.test_client()
    row = world.offline(1, visitor_email="anna@example.com")
    event_id = world.record("offline_message", "arrived", row)
    before = _samples(client)
    assert before[("bx_queue_depth", (("queue", "pending_events"),))] == 1
    assert before[("bx_oldest_pending_event_age_seconds", ())] >= 0

    intake.enqueue_event(event_id, world.portal_id)
    with caplog.at_level(logging.INFO, logger="bx_app.events"):
        jobs.drain_portal(world.portal_id)
    assert world.event(event_id).status == EventStatus.DONE

    after = _samples(client)
    assert after[("bx_events_total", (("kind", "offline_message"), ("outcome", "done")))] == 1
    requests = sum(v for (name, _), v in after.items() if name == "bx_bitrix_requests_total")
    assert requests == world.requests >= 2
    assert after[("bx_job_seconds_count", (("job", "drain_portal"),))] == 1
    assert after[("bx_queue_depth", (("queue", "pending_events"),))] == 0
    assert after[("bx_dependency_up", (("dependency", "redis"),))] == 1

    lines = [json.loads(r.getMessage()) for r in caplog.records if r.name == "bx_app.events"]
    assert len(lines) == 1
    line = lines[0]
    assert (line["event_id"], line["outcome"], line["credential"]) == (event_id, "done", world.credential_id)
    assert line["member_id"] and line["b24_requests"] == world.requests and line["ms"] >= 0
    text = json.dumps(line, ensure_ascii=False)
    for private in ("anna@example.com", row["visitor_phone_number"], row["visitor_name"], "access", "token"):
        assert private not in text


def test_limit_errors_and_token_refreshes_are_counted(world, app):
    client = app.test_client()
    world.portal.faults.add({"error": "QUERY_LIMIT_EXCEEDED", "count": 1})
    world.state.tokens.expire_portal(world.portal.port, world.state.now())
    event_id = world.record("offline_message", "arrived", world.offline(2))
    world.drain_all()
    assert world.event(event_id).status == EventStatus.DONE
    samples = _samples(client)
    plans = {dict(labels)["plan"] for name, labels in samples if name == "bx_bitrix_limit_errors_total"}
    assert plans == {"enterprise"}  # the world's portal has a 1000 req/s bucket
    assert sum(v for (name, _), v in samples.items() if name == "bx_bitrix_limit_errors_total") == 1
    assert samples[("bx_token_refreshes_total", (("outcome", "ok"),))] == 1


def test_data_api_calls_and_errors_are_counted_by_method(world, app):
    from bx_app.uis.client import DataApiClient
    from bx_app.uis.errors import UisError

    url = app.config["UIS_DATA_API_URL"]
    DataApiClient(url, "sandbox-uis-token").get_account()
    with contextlib.suppress(UisError):
        DataApiClient(url, "a-wrong-token", max_retries=0).get_account()
    samples = _samples(app.test_client())
    assert samples[("bx_data_api_calls_total", (("method", "get.account"),))] == 2
    errors = [(dict(labels), v) for (name, labels), v in samples.items() if name == "bx_data_api_errors_total"]
    assert len(errors) == 1 and errors[0][0]["method"] == "get.account" and errors[0][1] == 1


def test_metrics_answer_with_redis_down(app):
    app.config["REDIS_URL"] = "redis://127.0.0.1:1/0"
    response = app.test_client().get("/metrics")
    assert response.status_code == 200
    assert 'bx_dependency_up{dependency="redis"} 0.0' in response.get_data(as_text=True)
