"""Two web processes and three workers on one PostgreSQL and one Redis give the results of one of each.

No event is processed twice, an expired token is refreshed once per portal, each credential is polled
once per interval by the one scheduler, and the reference sync runs once per period — all counted from
the outside: the sandbox portals' CRM and OAuth servers, and the fleet's own /metrics.
"""
from __future__ import annotations

import time
from collections import Counter

import requests
from prometheus_client.parser import text_string_to_metric_families

from tests.reliability.fleet import PushTally, push_offline_requests

POLL_SECONDS = 5


def _metrics(port: int) -> dict[tuple, float]:
    text = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def _total(samples: dict, name: str, **labels) -> float:
    return sum(v for (n, lab), v in samples.items()
               if n == name and all(dict(lab).get(k) == want for k, want in labels.items()))


def _attach_uis_account(fleet, portals) -> None:
    """One UIS account (the sandbox's) for the three credentials: the scheduler polls each of them."""
    from bx_app import create_app
    from bx_app.extensions import db
    from bx_app.models import Credential, UisAccount

    app = create_app({"SQLALCHEMY_DATABASE_URI": fleet.database_url, "REDIS_URL": fleet.redis_url,
                      "SECRET_KEY": fleet.env()["SECRET_KEY"], "TOKEN_ENCRYPTION_KEY": ""})
    with app.app_context():
        account = UisAccount(app_id=1103425, name="ООО «Пример»", data_api_token="sandbox-uis-token")
        db.session.add(account)
        db.session.flush()
        Credential.query.filter(Credential.id.in_([p["credential_id"] for p in portals])).update(
            {"uis_account_id": account.id}, synchronize_session=False)
        db.session.commit()
        db.session.remove()
        db.engine.dispose()


def _wait_until_idle(fleet, timeout: float = 180.0) -> None:
    """No job queued and no event waiting, twice in a row a few seconds apart (running jobs finish)."""
    deadline, quiet = time.monotonic() + timeout, 0
    while time.monotonic() < deadline and quiet < 2:
        health = requests.get(f"http://127.0.0.1:{fleet.web_ports[0]}/healthz", timeout=10).json()
        quiet = quiet + 1 if not any(health["queue_depth"].values()) else 0
        time.sleep(3)
    assert quiet >= 2, "the fleet did not finish its work"


def _refresh_requests(fleet) -> int:
    return sum(fleet.oauth_stats(region).get("token_requests", {}).get("refresh_token", 0)
               for region in ("global", "ru"))


def test_two_web_processes_and_three_workers_act_as_one(make_fleet, long_variant, outcomes):
    fleet = make_fleet(EVENT_LOCK_SECONDS=10, SWEEP_SECONDS=2, UIS_POLL_SECONDS=POLL_SECONDS)
    fleet.start_redis()
    fleet.start_sandbox()
    fleet.upgrade_database()
    fleet.start_webs(2)
    portals = fleet.connect_portals()
    _attach_uis_account(fleet, portals)
    for n in range(3):
        fleet.start_worker_named(f"worker{n}")
    refreshes_before = _refresh_requests(fleet)
    started = time.monotonic()
    fleet.start_scheduler()

    count, tally = (300 if long_variant else 90), PushTally()

    def expire_all_tokens() -> None:
        for portal in portals:
            fleet.portal_control({"expire_tokens": True}, portal_url=portal["url"])

    sent = push_offline_requests(fleet, portals, count, tally, at_fractions={0.4: expire_all_tokens})
    # Let the burst settle and the scheduler run a few poll intervals.
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        waiting = fleet.query("SELECT count(*) FROM event WHERE status IN ('new', 'processing')")[0][0]
        if waiting == 0 and time.monotonic() - started > 4 * POLL_SECONDS:
            break
        time.sleep(1)
    fleet.kill("scheduler")  # the schedule stops here; what it queued is finished before counting
    window = time.monotonic() - started
    _wait_until_idle(fleet)
    samples = _metrics(fleet.web_ports[1])  # any web process answers for the whole fleet

    # No event processed twice: one lead per communication per portal, one journal line per event row.
    for portal in portals:
        leads = fleet.leads_by_origin(portal["url"])
        assert [o for o, n in leads.items() if n > 1] == [], f"duplicated leads in {portal['url']}"
    mine = Counter(url for url in sent.values())
    for uis_id, url in sent.items():
        assert fleet.leads_by_origin(url)[f"offline_message:{uis_id}"] == 1, uis_id
    assert sum(mine.values()) == count
    rows = fleet.query("SELECT count(*) FROM event WHERE status IN ('done', 'skipped', 'failed')")[0][0]
    assert _total(samples, "bx_events_total") == rows, "every event journaled exactly once"
    assert tally.server_errors == tally.connection_errors == 0

    # One token refresh per expiry: three portals expired once each.
    assert _refresh_requests(fleet) - refreshes_before == 3
    assert _total(samples, "bx_token_refreshes_total", outcome="ok") == 3

    # One poll per credential per interval, from the one scheduler (three workers run them).
    polls_all = _total(samples, "bx_job_seconds_count", job="poll_all")
    polls = _total(samples, "bx_job_seconds_count", job="poll_credential")
    assert 1 <= polls_all <= window / POLL_SECONDS + 1, (polls_all, window)
    assert polls == 3 * polls_all, (polls, polls_all)
    # One reference sync per period (the period is longer than the test: exactly the one at start).
    assert _total(samples, "bx_job_seconds_count", job="sync_all_credentials") == 1
    print(f"scale-out: {count} pushes over 2 web processes, 3 workers: {rows} events journaled once, "
          f"{polls_all:.0f} poll rounds in {window:.0f} s ({polls:.0f} credential polls), 3 token refreshes")
