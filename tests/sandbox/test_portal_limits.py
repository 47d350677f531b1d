"""The sandbox portal's leaky bucket, injected faults and token lifetime controls."""
from __future__ import annotations

from tests.conftest import reference_fixture

pytest_plugins = ["tests.sandbox.portal_fixtures"]


def test_a_burst_over_capacity_gets_query_limit_exceeded(sandbox, token):
    answers = [sandbox.rest("profile", token) for _ in range(60)]
    statuses = [a.status_code for a in answers]
    assert statuses[:50] == [200] * 50
    assert statuses[50:] == [503] * 10
    reference = reference_fixture("bitrix24/error_query_limit_exceeded.json")["response"]["body"]
    assert answers[-1].get_json() == reference
    counters = sandbox.portal.get("/sandbox/state.json").get_json()["counters"]
    assert counters["rest_requests"] == 60 and counters["query_limit_exceeded"] == 10
    # the bucket drains at 2/s: after 1 s two more requests fit, the third does not
    sandbox.clock.advance(1.0)
    assert [sandbox.rest("profile", token).status_code for _ in range(3)] == [200, 200, 503]


def test_paced_requests_never_hit_the_limit(sandbox, token):
    for _ in range(150):
        assert sandbox.rest("profile", token).status_code == 200
        sandbox.clock.advance(0.5)
    assert sandbox.portal.get("/sandbox/state.json").get_json()["counters"]["query_limit_exceeded"] == 0


def test_a_batch_is_one_request_for_the_bucket(sandbox, token):
    sandbox.control(bucket={"capacity": 3, "rate": 1})
    for _ in range(3):
        body = sandbox.rest("batch", token, cmd={f"c{i}": "app.info" for i in range(50)}).get_json()
        assert len(body["result"]["result"]) == 50
    assert sandbox.rest("batch", token, cmd={"a": "app.info"}).status_code == 503
    counters = sandbox.portal.get("/sandbox/state.json").get_json()["counters"]
    assert counters["rest_requests"] == 4 and counters["rest_calls"] == 153


def test_next_calls_fault_then_recover(sandbox, token):
    sandbox.control(faults=[{"error": "OPERATION_TIME_LIMIT", "count": 2, "method": "crm.lead.add"},
                            {"error": "INTERNAL_SERVER_ERROR", "count": 1}])
    first = sandbox.rest("profile", token)
    assert first.status_code == 500 and first.get_json()["error"] == "INTERNAL_SERVER_ERROR"
    assert sandbox.rest("profile", token).status_code == 200
    blocked = sandbox.rest("crm.lead.add", token, fields={"TITLE": "x"})
    reference = reference_fixture("bitrix24/error_operation_time_limit.json")["blocked"]
    assert (blocked.status_code, blocked.get_json()) == (reference["http_status"], reference["body"])
    # a method fault hits the sub-call inside a batch too
    in_batch = sandbox.rest("batch", token, cmd={"a": "crm.lead.add?fields[TITLE]=x", "b": "app.info"}).get_json()
    assert in_batch["result"]["result_error"]["a"]["error"] == "OPERATION_TIME_LIMIT"
    assert "b" in in_batch["result"]["result"]
    assert sandbox.rest("crm.lead.add", token, fields={"TITLE": "x"}).status_code == 200
    state = sandbox.portal.get("/sandbox/state.json").get_json()
    assert state["faults"] == [] and state["counters"]["faults_served"] == 3


def test_fault_kinds(sandbox, token):
    sandbox.control(faults=[{"error": "QUERY_LIMIT_EXCEEDED"}, {"error": "expired_token"}, {"error": "HTTP_500"}])
    limit = sandbox.rest("profile", token)
    assert limit.status_code == 503 and limit.get_json()["error"] == "QUERY_LIMIT_EXCEEDED"
    expired = sandbox.rest("profile", token)
    assert expired.status_code == 401 and expired.get_json()["error"] == "expired_token"
    html = sandbox.rest("profile", token)
    assert html.status_code == 500 and html.mimetype == "text/html"
    assert sandbox.portal.get("/sandbox/state.json").get_json()["counters"]["query_limit_exceeded"] == 1
    bad = sandbox.portal.post("/sandbox/control", json={"faults": {"error": "NO_SUCH"}})
    assert bad.status_code == 400


def test_random_fraction_of_faults(sandbox, token):
    sandbox.control(bucket={"enabled": False}, fault_seed=7, faults={"error": "QUERY_LIMIT_EXCEEDED", "probability": 0.3})
    failures = sum(sandbox.rest("profile", token).status_code == 503 for _ in range(200))
    assert 30 < failures < 90
    sandbox.control(clear_faults=True)
    assert sandbox.rest("profile", token).status_code == 200


def test_token_lifetime_and_expire_now(sandbox):
    sandbox.control(token_lifetime=2)
    tokens = sandbox.installed_tokens()
    assert tokens["expires_in"] == 2
    assert sandbox.rest("profile", tokens["access_token"]).status_code == 200
    sandbox.clock.advance(2)
    assert sandbox.rest("profile", tokens["access_token"]).get_json()["error"] == "expired_token"
    fresh = sandbox.token(grant_type="refresh_token", refresh_token=tokens["refresh_token"]).get_json()
    assert sandbox.rest("profile", fresh["access_token"]).status_code == 200
    assert sandbox.control(expire_tokens=True)["expired"] == 1
    assert sandbox.rest("profile", fresh["access_token"]).get_json()["error"] == "expired_token"
    # the refresh token still works after an early expiry
    again = sandbox.token(grant_type="refresh_token", refresh_token=fresh["refresh_token"])
    assert again.status_code == 200


def test_reset_restores_a_fresh_portal(sandbox, token):
    sandbox.rest("crm.lead.add", token, fields={"TITLE": "x"})
    sandbox.control(reset=True)
    state = sandbox.portal.get("/sandbox/state.json").get_json()
    assert state["leads"] == [] and state["installed"] is False and state["counters"]["rest_requests"] == 0
    assert sandbox.rest("profile", token).get_json()["error"] == "invalid_token"


def test_delay_after_runs_the_call_then_holds_the_answer(sandbox, token, monkeypatch):
    slept = []
    monkeypatch.setattr("bx_app.sandbox.portal.rest.time.sleep", slept.append)
    sandbox.control(faults=[{"error": "DELAY_AFTER", "method": "batch", "seconds": 5, "count": 1}])
    assert sandbox.rest("profile", token).status_code == 200 and slept == []
    answer = sandbox.rest("batch", token, cmd={"a": "crm.lead.add?fields[TITLE]=x&fields[ORIGIN_ID]=o1"})
    assert answer.status_code == 200 and slept == [5.0]
    state = sandbox.portal.get("/sandbox/state.json").get_json()
    assert [lead["ORIGIN_ID"] for lead in state["leads"]] == ["o1"]  # the write happened before the delay
    assert state["faults"] == []
    sandbox.rest("batch", token, cmd={"a": "app.info"})
    assert slept == [5.0]
    sandbox.control(faults=[{"error": "DELAY_AFTER", "method": "batch", "seconds": 2, "contains": "crm.lead.add"}])
    sandbox.rest("batch", token, cmd={"a": "crm.lead.list"})
    sandbox.rest("batch", token, cmd={"a": "crm.lead.add?fields[TITLE]=y"})
    assert slept == [5.0, 2.0]


def test_notifications_sent_are_counted_per_tag_though_a_repeat_replaces(sandbox, token):
    for _ in range(2):
        sandbox.rest("im.notify.system.add", token, USER_ID=1, MESSAGE="hi", TAG="UIS|chat:1")
    state = sandbox.portal.get("/sandbox/state.json").get_json()
    assert len(state["notifications"]) == 1 and state["notifications_sent"] == {"UIS|chat:1": 2}


def test_timeline_comments_are_listed_per_entity(sandbox, token):
    lead = sandbox.rest("crm.lead.add", token, fields={"TITLE": "x"}).get_json()["result"]
    for text in ("one", "two"):
        sandbox.rest("crm.timeline.comment.add", token, fields={"ENTITY_ID": lead, "ENTITY_TYPE": "lead",
                                                                 "COMMENT": text})
    rows = sandbox.rest("crm.timeline.comment.list", token, filter={"ENTITY_ID": lead, "ENTITY_TYPE": "lead"})
    assert [r["COMMENT"] for r in rows.get_json()["result"]] == ["one", "two"]
    assert sandbox.rest("crm.timeline.comment.list", token, filter={}).status_code == 400
