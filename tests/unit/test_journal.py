"""The journal pages: filters, paging, visibility, entity links, retry one / retry all with progress."""
from __future__ import annotations

import re
from datetime import datetime, timedelta

import pytest
from rq import Queue

from bx_app import journal_view, progress
from bx_app.extensions import db, redis_connection
from bx_app.models import Credential, Event, UisAccount
from bx_app.models.event import EventStatus
from tests.unit import factories
from tests.unit.factories import make_credential

BASE = datetime(2026, 3, 10, 9, 0, 0)  # naive UTC, as stored


def add_event(credential: Credential, n: int, status: str = EventStatus.DONE, kind: str = "offline_message",
              created_at: datetime | None = None, **fields) -> Event:
    event = Event(credential_id=credential.id, kind=kind, stage=fields.pop("stage", "arrived"),
                  external_id=str(1000 + n), dedupe_key=f"{kind}:{1000 + n}:{n}", source="push",
                  payload=fields.pop("payload", {"visitor_name": f"Гость {n}"}), status=status,
                  created_at=created_at or BASE + timedelta(minutes=n), **fields)
    db.session.add(event)
    db.session.commit()
    return event


def portal_token(app, credential: Credential, admin: bool = True) -> str:
    return factories.portal_token(app, credential, admin, user_name="Иван Петров")


@pytest.fixture
def world(app):
    account = UisAccount(app_id=501, name="ООО Ромашка", timezone="Europe/Moscow")
    other_account = UisAccount(app_id=502, name="Другой")
    db.session.add_all([account, other_account])
    db.session.commit()
    mine = make_credential(1, account)
    other = make_credential(2, other_account)
    return {"account": account, "other_account": other_account, "mine": mine, "other": other}


def rows(html: str) -> list[str]:
    return re.findall(r'data-event-id="(\d+)"', html)


# --- paging ---------------------------------------------------------------------------------------
def test_newest_first_and_fifty_per_page(app, client, world):
    cred = world["mine"]
    events = [add_event(cred, n) for n in range(120)]
    token = portal_token(app, cred)
    first = client.get(f"/journal/{cred.id}", query_string={"_s": token})
    assert first.status_code == 200
    ids = rows(first.get_data(as_text=True))
    assert len(ids) == 50
    assert ids[0] == str(events[-1].id) and ids[-1] == str(events[70].id)
    third = client.get(f"/journal/{cred.id}", query_string={"_s": token, "page": 3})
    assert rows(third.get_data(as_text=True)) == [str(e.id) for e in reversed(events[:20])]
    # a page past the end shows the last page
    assert rows(client.get(f"/journal/{cred.id}", query_string={"_s": token, "page": 99}).get_data(as_text=True)) \
        == rows(third.get_data(as_text=True))


def test_page_links_keep_filters_and_session(app, client, world):
    cred = world["mine"]
    for n in range(60):
        add_event(cred, n, status=EventStatus.FAILED)
    add_event(cred, 100, status=EventStatus.DONE)
    token = portal_token(app, cred)
    html = client.get(f"/journal/{cred.id}", query_string={"_s": token, "status": "failed"}).get_data(as_text=True)
    pager = html[html.index('id="journal-pager"'):]
    link = re.search(r'href="([^"]*page=2[^"]*)"', pager).group(1)
    assert "status=failed" in link and "_s=" in link
    second = client.get(link.replace("&amp;", "&"))
    assert len(rows(second.get_data(as_text=True))) == 10


# --- filters --------------------------------------------------------------------------------------
def test_filter_by_status(app, client, world):
    cred = world["mine"]
    failed = add_event(cred, 1, status=EventStatus.FAILED, reason="bitrix_error: QUERY_LIMIT_EXCEEDED")
    add_event(cred, 2, status=EventStatus.DONE)
    add_event(cred, 3, status=EventStatus.SKIPPED, reason="filtered_out")
    html = client.get(f"/journal/{cred.id}", query_string={"_s": portal_token(app, cred), "status": "failed"}
                      ).get_data(as_text=True)
    assert rows(html) == [str(failed.id)]
    assert "Ошибка" in html and "Bitrix24 вернул ошибку. QUERY_LIMIT_EXCEEDED" in html


def test_filter_by_kind(app, client, world):
    cred = world["mine"]
    add_event(cred, 1, kind="offline_message")
    chat = add_event(cred, 2, kind="chat", stage="finished")
    add_event(cred, 3, kind="call")
    html = client.get(f"/journal/{cred.id}", query_string={"_s": portal_token(app, cred), "kind": "chat"}
                      ).get_data(as_text=True)
    assert rows(html) == [str(chat.id)]
    assert "Чат" in html and "завершение" in html


def test_filter_by_dates_in_the_accounts_timezone(app, client, world):
    cred = world["mine"]
    # 2026-03-10 22:30 UTC is already 2026-03-11 01:30 in Moscow
    late = add_event(cred, 1, created_at=datetime(2026, 3, 10, 22, 30))
    day_before = add_event(cred, 2, created_at=datetime(2026, 3, 9, 12, 0))
    day_after = add_event(cred, 3, created_at=datetime(2026, 3, 12, 12, 0))
    token = portal_token(app, cred)

    def ids(**args):
        return rows(client.get(f"/journal/{cred.id}", query_string={"_s": token, **args}).get_data(as_text=True))

    assert ids(date_from="2026-03-11", date_to="2026-03-11") == [str(late.id)]
    assert ids(date_from="2026-03-11") == [str(day_after.id), str(late.id)]
    assert ids(date_to="2026-03-10") == [str(day_before.id)]
    # as typed on a Russian page (ДД.ММ.ГГГГ) and an English one (MM/DD/YYYY)
    assert ids(date_from="11.03.2026", date_to="11.03.2026") == [str(late.id)]
    assert ids(date_from="03/11/2026", date_to="03/11/2026") == [str(late.id)]


@pytest.mark.parametrize("args, message", [
    ({"status": "bogus"}, "Неизвестный статус"),
    ({"kind": "fax"}, "Неизвестный тип"),
    ({"date_from": "31.02.2026"}, "ДД.ММ.ГГГГ"),
    ({"date_to": "yesterday"}, "ДД.ММ.ГГГГ"),
    ({"date_from": "2026-03-12", "date_to": "2026-03-10"}, "раньше даты"),
    ({"page": "0"}, "от 1 до"),
    ({"page": "two"}, "целое число"),
])
def test_bad_filter_is_a_form_error(app, client, world, args, message):
    cred = world["mine"]
    add_event(cred, 1)
    response = client.get(f"/journal/{cred.id}", query_string={"_s": portal_token(app, cred), **args})
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert 'class="b24-field-error"' in html and 'id="filter-error"' in html
    assert message in html
    assert rows(html) == []


# --- visibility -----------------------------------------------------------------------------------
def test_another_portals_credential_is_404(app, client, world):
    mine, other = world["mine"], world["other"]
    event = add_event(other, 1, status=EventStatus.FAILED)
    token = portal_token(app, mine)
    assert client.get(f"/journal/{other.id}", query_string={"_s": token}).status_code == 404
    assert client.get(f"/journal/{other.id}/events/{event.id}", query_string={"_s": token}).status_code == 404
    # another credential's event under my credential id
    assert client.get(f"/journal/{mine.id}/events/{event.id}", query_string={"_s": token}).status_code == 404
    assert client.post(f"/journal/{mine.id}/events/{event.id}/retry", data={"_s": token}).status_code == 404
    assert client.post(f"/journal/{other.id}/retry-failed", data={"_s": token}).status_code == 404
    assert db.session.get(Event, event.id).status == EventStatus.FAILED


def test_uis_side_sees_only_its_accounts_credentials(app, client, world):
    mine, other = world["mine"], world["other"]
    add_event(mine, 1)
    with client.session_transaction() as session:
        session["uis_account_id"] = world["account"].id
    response = client.get(f"/journal/{mine.id}")
    assert response.status_code == 200
    assert len(rows(response.get_data(as_text=True))) == 1
    assert client.get(f"/journal/{other.id}").status_code == 404


def test_no_session_is_401(client, world):
    assert client.get(f"/journal/{world['mine'].id}").status_code == 401


def test_journal_in_iframe_redirects_to_the_portals_credential(app, client, world):
    cred = world["mine"]
    response = client.get("/journal", query_string={"_s": portal_token(app, cred)})
    assert response.status_code == 302
    assert f"/journal/{cred.id}?" in response.location and "_s=" in response.location


def test_task_of_another_credential_is_404(app, client, world):
    task_id = progress.start_task(journal_view.RETRY_ALL_KIND, scope=journal_view.retry_scope(world["other"].id))
    cred = world["mine"]
    assert client.get(f"/journal/{cred.id}/tasks/{task_id}", query_string={"_s": portal_token(app, cred)},
                      headers={"Accept": "application/json"}).status_code == 404


# --- what a row shows -----------------------------------------------------------------------------
def test_entity_links_point_into_the_portal(app, client, world):
    cred = world["mine"]
    add_event(cred, 1, result={"lead_id": 1045, "activity_id": 77})
    add_event(cred, 2, result={"deal_id": "2071", "plan": [{"method": "crm.deal.add"}]})
    html = client.get(f"/journal/{cred.id}", query_string={"_s": portal_token(app, cred)}).get_data(as_text=True)
    assert 'href="https://p1.bitrix24.ru/crm/lead/details/1045/"' in html
    assert 'href="https://p1.bitrix24.ru/crm/deal/details/2071/"' in html
    assert "Дело #77" in html


def test_entity_links_function():
    links = journal_view.entity_links({"lead_id": 5, "deal_ids": [6, "x", 0], "activity_id": True, "plan": {}},
                                      "https://a.bitrix24.ru/")
    assert [(link.label, link.entity_id, link.url) for link in links] == [
        ("Лид", 5, "https://a.bitrix24.ru/crm/lead/details/5/"),
        ("Сделка", 6, "https://a.bitrix24.ru/crm/deal/details/6/"),
    ]
    assert journal_view.entity_links(None, "https://a.bitrix24.ru") == []


def test_visitor_and_words(app, client, world):
    cred = world["mine"]
    add_event(cred, 1, status=EventStatus.SKIPPED, reason="no_contact_data",
              payload={"visitor_name": "Анна", "visitor_phone_number": "79161234567",
                       "visitor_email": "anna@example.com", "text": "Перезвоните мне"})
    add_event(cred, 2, status=EventStatus.FAILED, last_error="BitrixError: ACCESS_DENIED\nTraceback ...")
    html = client.get(f"/journal/{cred.id}", query_string={"_s": portal_token(app, cred)}).get_data(as_text=True)
    for text in ("Анна", "79161234567", "anna@example.com", "Перезвоните мне", "Пропущено",
                 "Нет контактных данных посетителя", "Офлайн заявка", "BitrixError: ACCESS_DENIED"):
        assert text in html
    assert "Traceback" not in html


def test_event_detail_shows_payload_result_and_error(app, client, world):
    cred = world["mine"]
    event = add_event(cred, 1, status=EventStatus.FAILED, payload={"visitor_name": "Олег", "site": "shop.ru"},
                      result={"lead_id": 9}, last_error="Bitrix24 timeout", attempts=3)
    response = client.get(f"/journal/{cred.id}/events/{event.id}", query_string={"_s": portal_token(app, cred)})
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "&#34;site&#34;: &#34;shop.ru&#34;" in html or '"site": "shop.ru"' in html
    assert "Bitrix24 timeout" in html and 'id="event-result"' in html
    assert "https://p1.bitrix24.ru/crm/lead/details/9/" in html
    assert 'id="retry-event"' in html
    assert client.get(f"/journal/{cred.id}/events/999999", query_string={"_s": portal_token(app, cred)}
                      ).status_code == 404


# --- retry ----------------------------------------------------------------------------------------
@pytest.fixture
def enqueued(monkeypatch):
    """The event ids intake was asked to queue (the real enqueue still runs against the test Redis)."""
    from bx_app import intake

    ids: list[int] = []
    real = intake.enqueue_event

    def spy(event_id, *args, **kwargs):
        ids.append(event_id)
        return real(event_id, *args, **kwargs)

    monkeypatch.setattr(intake, "enqueue_event", spy)
    return ids


def test_retry_one_failed_event(app, client, world, enqueued):
    cred = world["mine"]
    failed = add_event(cred, 1, status=EventStatus.FAILED, reason="bitrix_error")
    other_failed = add_event(cred, 2, status=EventStatus.FAILED)
    token = portal_token(app, cred)
    response = client.post(f"/journal/{cred.id}/events/{failed.id}/retry?status=failed&page=1", data={"_s": token})
    assert response.status_code == 302
    assert "status=failed" in response.location and "_s=" in response.location
    db.session.expire_all()
    assert db.session.get(Event, failed.id).status == EventStatus.NEW
    assert db.session.get(Event, other_failed.id).status == EventStatus.FAILED
    assert enqueued == [failed.id]


def test_retry_one_refuses_a_done_event(app, client, world):
    cred = world["mine"]
    done = add_event(cred, 1, status=EventStatus.DONE)
    response = client.post(f"/journal/{cred.id}/events/{done.id}/retry", data={"_s": portal_token(app, cred)},
                           follow_redirects=True)
    assert "только событие с ошибкой" in response.get_data(as_text=True)
    assert db.session.get(Event, done.id).status == EventStatus.DONE


def test_retry_all_runs_in_chunks_and_reports_progress(app, client, world, enqueued):
    cred = world["mine"]
    failed = [add_event(cred, n, status=EventStatus.FAILED) for n in range(120)]
    add_event(cred, 500, status=EventStatus.DONE)
    add_event(world["other"], 1, status=EventStatus.FAILED)
    token = portal_token(app, cred)

    page = client.get(f"/journal/{cred.id}", query_string={"_s": token}).get_data(as_text=True)
    assert 'id="retry-all"' in page and "(120)" in page

    response = client.post(f"/journal/{cred.id}/retry-failed", data={"_s": token})
    assert response.status_code == 302
    jobs = Queue("default", connection=redis_connection(app.config["REDIS_URL"])).get_jobs()
    assert len(jobs) == 1 and jobs[0].func_name == "bx_app.jobs.retry_all_failed"
    credential_id, task_id = jobs[0].args
    assert credential_id == cred.id

    task = progress.read(task_id)
    assert task["state"] == progress.QUEUED and task["total"] == 120 and task["done"] == 0
    # without JS the page shows the state (and a live bar) on reload; a second start is refused
    page = client.get(f"/journal/{cred.id}", query_string={"_s": token}).get_data(as_text=True)
    assert 'id="retry-task"' in page and 'data-state="queued"' in page and "b24-progress-bar" in page
    client.post(f"/journal/{cred.id}/retry-failed", data={"_s": token})
    assert len(Queue("default", connection=redis_connection(app.config["REDIS_URL"])).get_jobs()) == 1

    assert journal_view.retry_all_failed(cred.id, task_id) == 120  # what the worker would run

    state = client.get(f"/journal/{cred.id}/tasks/{task_id}", query_string={"_s": token},
                       headers={"Accept": "application/json"}).get_json()
    assert state["state"] == "done" and state["done"] == state["total"] == 120 and state["percent"] == 100
    assert state["finished"] is True
    db.session.expire_all()
    assert {db.session.get(Event, e.id).status for e in failed} == {EventStatus.NEW}
    assert Event.query.filter_by(credential_id=world["other"].id, status=EventStatus.FAILED).count() == 1
    assert sorted(enqueued) == sorted(e.id for e in failed)
    page = client.get(f"/journal/{cred.id}", query_string={"_s": token}).get_data(as_text=True)
    assert 'data-state="done"' in page and "setTimeout(poll" not in page


def test_retry_all_failed_progress_is_monotonic(app, world, monkeypatch):
    cred = world["mine"]
    for n in range(130):
        add_event(cred, n, status=EventStatus.FAILED)
    task_id = progress.start_task(journal_view.RETRY_ALL_KIND, scope=journal_view.retry_scope(cred.id))
    seen = []
    real_update = progress.update

    def spy(task, **kwargs):
        real_update(task, **kwargs)
        seen.append(progress.read(task)["done"])

    monkeypatch.setattr(progress, "update", spy)
    journal_view.retry_all_failed(cred.id, task_id)
    assert seen[:4] == [0, 50, 100, 130]
    assert progress.read(task_id)["state"] == progress.DONE


def test_retry_all_failed_failure_is_reported(app, world, monkeypatch):
    cred = world["mine"]
    add_event(cred, 1, status=EventStatus.FAILED)
    task_id = progress.start_task(journal_view.RETRY_ALL_KIND, scope=journal_view.retry_scope(cred.id))

    def broken(*args, **kwargs):
        raise RuntimeError("database gone")

    monkeypatch.setattr(journal_view.intake, "retry_events", broken)
    with pytest.raises(RuntimeError):
        journal_view.retry_all_failed(cred.id, task_id)
    task = progress.read(task_id)
    assert task["state"] == progress.FAILED and task["message"] == "database gone"


# --- read-only for non-admins ---------------------------------------------------------------------
def test_non_admin_sees_the_journal_read_only(app, client, world):
    cred = world["mine"]
    event = add_event(cred, 1, status=EventStatus.FAILED)
    token = portal_token(app, cred, admin=False)
    html = client.get(f"/journal/{cred.id}", query_string={"_s": token}).get_data(as_text=True)
    assert rows(html) == [str(event.id)]
    assert "Повторить" not in html
    assert client.post(f"/journal/{cred.id}/events/{event.id}/retry", data={"_s": token}).status_code == 403
    assert client.post(f"/journal/{cred.id}/retry-failed", data={"_s": token}).status_code == 403
    assert db.session.get(Event, event.id).status == EventStatus.FAILED
    assert Queue("default", connection=redis_connection(app.config["REDIS_URL"])).count == 0


def test_retry_needs_csrf_when_enabled(app, client, world):
    cred = world["mine"]
    event = add_event(cred, 1, status=EventStatus.FAILED)
    app.config["WTF_CSRF_ENABLED"] = True
    response = client.post(f"/journal/{cred.id}/events/{event.id}/retry", data={"_s": portal_token(app, cred)})
    assert response.status_code == 400
    assert db.session.get(Event, event.id).status == EventStatus.FAILED


# --- the progress module --------------------------------------------------------------------------
def test_progress_task_lifecycle(app):
    task_id = progress.start_task("sync", scope="credential:1", total=4)
    assert progress.read(task_id)["state"] == progress.QUEUED
    progress.update(task_id, state=progress.RUNNING, advance=1)
    progress.update(task_id, advance=2, message="users")
    task = progress.read(task_id)
    assert (task["state"], task["done"], task["total"], task["percent"], task["message"]) == \
        ("running", 3, 4, 75, "users")
    assert 0 < redis_connection().ttl(f"bx:task:{task_id}") <= progress.TTL_SECONDS
    progress.remember("credential:1", "sync", task_id)
    progress.finish(task_id)
    assert progress.latest("credential:1", "sync")["state"] == progress.DONE
    assert progress.latest("credential:2", "sync") is None
    assert progress.read("nope") is None
    with pytest.raises(ValueError):
        progress.update(task_id, state="exploded")
