"""Tenant boundaries over the whole URL map: every route that takes an id, tried with another tenant's ids → 404.

The viewers are an administrator in portal 1's iframe and UIS account A on the UIS side. The foreign
ids: the credential of portal 2 (UIS account B), the credential of portal 3 (UIS account A, so foreign
to portal 1's iframe only), an event and a task of portal 2's credential. Every method a rule allows is
tried; nothing of the other tenant may change.
"""
from __future__ import annotations

import re

import pytest

from bx_app import progress
from bx_app.extensions import db
from bx_app.journal_view import retry_scope
from bx_app.models import Credential, Event
from bx_app.reference_sync import scope_of
from tests.unit.factories import make_credential, portal_token, two_accounts

ID_PARAMS = {"credential_id", "event_id", "task_id"}


def _id_rules(app):
    rules = []
    for rule in app.url_map.iter_rules():
        params = set(rule.arguments)
        if params & ID_PARAMS:
            for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
                rules.append((rule, method))
    return rules


@pytest.fixture
def world(app, redis_url):
    base = two_accounts()
    mine, other = base["mine"], base["other"]
    sibling = make_credential(3, base["account"])  # same UIS account as mine, another portal
    event = Event(credential_id=other.id, kind="offline_message", stage="arrived", external_id="777",
                  dedupe_key="offline_message:777:arrived", source="push", payload={"visitor_phone_number": "79161234567"},
                  status="failed", reason="x")
    db.session.add(event)
    db.session.commit()
    tasks = {
        "retry": progress.start_task("retry_failed", scope=retry_scope(other.id)),
        "sync": progress.start_task("reference_sync", scope=scope_of(other.id)),
    }
    return {"mine": mine, "other": other, "sibling": sibling, "account": base["account"], "event": event,
            "tasks": tasks}


def _url(rule, credential_id, world, *, own_credential_for_children: int | None = None):
    values = {}
    for name in rule.arguments:
        if name == "credential_id":
            values[name] = credential_id
        elif name == "event_id":
            values[name] = world["event"].id
        elif name == "task_id":
            values[name] = world["tasks"]["sync" if "sync" in rule.rule else "retry"]
        elif name == "section":
            values[name] = "chats"
        else:
            raise AssertionError(f"a route with an unknown parameter {name}: {rule.rule}; add it to this table")
    return rule.build(values, append_unknown=False)[1]


def _snapshot(world):
    db.session.expire_all()
    other = db.session.get(Credential, world["other"].id)
    event = db.session.get(Event, world["event"].id)
    return (other.hook_token, other.name, other.portal.status, event.status, event.attempts, event.payload)


def test_every_route_with_an_id_is_in_the_table(app):
    rules = {rule.rule for rule, _m in _id_rules(app)}
    assert len(rules) >= 12, rules
    assert any("/events/<int:event_id>" in r for r in rules) and any("<task_id>" in r for r in rules)


def test_a_portal_viewer_gets_404_for_every_other_tenants_id(app, client, world):
    before = _snapshot(world)
    token = portal_token(app, world["mine"], admin=True)
    tried = []
    for rule, method in _id_rules(app):
        if rule.rule.startswith("/uis/"):
            continue  # the UIS side does not take an iframe session
        for foreign in (world["other"].id, world["sibling"].id):
            path = _url(rule, foreign, world)
            response = client.open(path, method=method, query_string={"_s": token}, data={"_s": token})
            assert response.status_code == 404, (method, path, response.status_code)
            tried.append((method, path))
        if "event_id" in rule.arguments or "task_id" in rule.arguments:
            # My own credential with the other tenant's event or task.
            path = _url(rule, world["mine"].id, world)
            response = client.open(path, method=method, query_string={"_s": token}, data={"_s": token})
            assert response.status_code == 404, (method, path, response.status_code)
            tried.append((method, path))
    assert len(tried) >= 20
    assert _snapshot(world) == before


def test_a_uis_account_gets_404_for_every_other_accounts_id(app, client, world):
    before = _snapshot(world)
    with client.session_transaction() as session:
        session["uis_account_id"] = world["account"].id
    tried = []
    for rule, method in _id_rules(app):
        path = _url(rule, world["other"].id, world)
        response = client.open(path, method=method)
        assert response.status_code == 404, (method, path, response.status_code)
        tried.append(path)
        if "event_id" in rule.arguments or "task_id" in rule.arguments:
            for own in (world["mine"].id, world["sibling"].id):
                path = _url(rule, own, world)
                response = client.open(path, method=method)
                assert response.status_code == 404, (method, path, response.status_code)
    assert len(tried) >= 12
    assert _snapshot(world) == before


def test_the_same_routes_answer_for_the_own_tenant(app, client, world):
    """The table is not vacuous: with one's own ids the GET pages answer 200."""
    with client.session_transaction() as session:
        session["uis_account_id"] = world["account"].id
    for rule, method in _id_rules(app):
        if method != "GET" or ID_PARAMS & set(rule.arguments) != {"credential_id"}:
            continue
        path = _url(rule, world["mine"].id, world)
        response = client.get(path, follow_redirects=True)
        assert response.status_code == 200, (path, response.status_code)
        assert not re.search(r"p2\.bitrix24\.ru", response.get_data(as_text=True)), path
