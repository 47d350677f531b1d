"""What the administrator sees: the setup checklist and its dry run, one row of tabs, words without internal
codes, ISO times or stray English, the browser's limits equal to the server's, entity links for the slider."""
from __future__ import annotations

import html as html_lib
import re
from datetime import datetime

import pytest

from bx_app import reference_sync, settings_store
from bx_app.extensions import db
from bx_app.integration import filters, titles
from bx_app.models import Event
from bx_app.models.reference import EmployeeLink
from bx_app.uis_accounts import NAME_MAX_LENGTH
from tests.unit import factories
from tests.unit.factories import portal_token, two_accounts

USERS = [{"ID": "7", "NAME": "Иван", "LAST_NAME": "Петров", "ACTIVE": True},
         {"ID": "12", "NAME": "Ольга", "LAST_NAME": "Кузнецова", "ACTIVE": True}]
EMPLOYEES = [{"id": 501, "first_name": "Иван", "last_name": "Петров"},
             {"id": 502, "first_name": "Анна", "last_name": "Смирнова"}]


@pytest.fixture
def world(app):
    return two_accounts()


def add_event(credential, n: int, kind="offline_message", stage="arrived", source="push", **fields) -> Event:
    event = Event(credential_id=credential.id, kind=kind, stage=stage, external_id=str(1000 + n),
                  dedupe_key=f"{kind}:{1000 + n}:{stage}", source=source,
                  payload=fields.pop("payload", {"visitor_name": "Сергей", "visitor_phone_number": "79161234567",
                                                 "site_domain_name": "shop.example.ru",
                                                 "text": "Перезвоните"}),
                  created_at=fields.pop("created_at", datetime(2026, 3, 10, 9, n)), **fields)
    db.session.add(event)
    db.session.commit()
    return event


def synced(credential) -> None:
    reference_sync.store(credential.id, "b24_users", USERS)
    reference_sync.store(credential.id, "uis_employees", EMPLOYEES)
    reference_sync.store(credential.id, "sync_result", {"finished_at": "2026-03-10T09:30:00+00:00",
                                                        "counts": {"users": 2}, "errors": {}})
    db.session.add(EmployeeLink(credential_id=credential.id, uis_employee_id=501, uis_name="Петров Иван",
                                b24_user_id=7, how="auto"))
    db.session.add(EmployeeLink(credential_id=credential.id, uis_employee_id=502, uis_name="Смирнова Анна",
                                b24_user_id=None, how=None, reason="no_candidate"))
    db.session.commit()


def visible_text(page: str) -> str:
    """What a reader sees: no tags, scripts, attribute values; code, JSON and templates (<pre>, <code>,
    <textarea>, folded raw data) are shown as data and are left out."""
    page = re.sub(r"(?is)<(script|style|pre|code|textarea|details)\b.*?</\1>", " ", page)
    page = re.sub(r"(?is)<head>.*?</head>", " ", page)
    page = re.sub(r"(?s)<[^>]+>", " ", page)
    return re.sub(r"\s+", " ", html_lib.unescape(page))


INTERNAL_CODE = re.compile(r"\b(?:C[1-9]|O[1-7]|G[1-5]|S[1-4]|P1|I[12]|M1)\b")
ISO_TIME = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}|\bUTC\b|\+00:00")
# Latin words a Russian page may show: names of products and protocols, field codes, URLs' parts.
ALLOWED_LATIN = {"UIS", "Bitrix24", "Data", "API", "CRM", "HTTP", "POST", "GET", "URL", "ID", "Ctrl", "member_id",
                 "SOURCE_ID", "UF_CRM_", "e-mail", "app_id", "RU", "EN", "shop", "example", "ru", "bitrix24", "com",
                 "utm_source", "WEBFORM", "OTHER", "CALLBACK", "yandex", "google", "E-mail",
                 "whatsapp", "telegram", "comagic"}


def english_words(text: str) -> set[str]:
    words = set()
    text = re.sub(r"\S*[.@/]\S*", " ", text)  # addresses, e-mails, paths
    text = re.sub(r"\bUTM \w+", " ", text)  # "UTM source": the parameters' own names
    for token in re.findall(r"[A-Za-z][A-Za-z_\-]*[A-Za-z0-9_]*", text):
        if token in ALLOWED_LATIN or token.upper() == token or token.startswith(("UF_CRM", "utm_")):
            continue
        words.add(token)
    return words


def portal_pages(credential, event_ids) -> list[str]:
    cid = credential.id
    return ["/app", "/app?check=1", f"/settings/{cid}/main", f"/settings/{cid}/channels/chats",
            f"/settings/{cid}/channels/offline", f"/journal/{cid}"] + [f"/journal/{cid}/events/{i}" for i in event_ids]


def test_no_page_shows_an_internal_code_an_iso_time_or_an_english_word_in_russian(app, client, world):
    cred = world["mine"]
    synced(cred)
    settings_store.save_channel(cred.id, "main", True, {})
    done = add_event(cred, 1, status="done", result={"lead_id": 5, "plan": {
        "responsible_id": 7, "responsible_reason": "ответственный по умолчанию", "title": "Заявка", "repeat": False}},
        processed_at=datetime(2026, 3, 10, 9, 2))
    skipped = add_event(cred, 2, status="skipped", reason="filtered_out",
                        result={"plan": {"filter": "сайт = shop.example.ru — нет"}})
    chat = add_event(cred, 3, kind="chat", stage="finished", status="failed", reason="bitrix_error",
                     last_error="ACCESS_DENIED: Access denied", payload={"chat_id": 77, "visitor_name": "Гость"})
    token = portal_token(app, cred)
    seen = {}
    for url in portal_pages(cred, [done.id, skipped.id, chat.id]):
        response = client.get(url + ("&" if "?" in url else "?") + f"_s={token}&lang=ru")
        assert response.status_code == 200, url
        seen[url] = visible_text(response.get_data(as_text=True))
    with client.session_transaction() as session:
        session["uis_account_id"] = world["account"].id
        session["lang"] = "ru"
    for url in ("/uis/credentials", f"/uis/credentials/{cred.id}", f"/uis/credentials/{cred.id}?check=1",
                "/uis/connect", f"/settings/{cred.id}/main", f"/journal/{cred.id}/events/{done.id}"):
        response = client.get(url)
        assert response.status_code == 200, url
        seen["uis " + url] = visible_text(response.get_data(as_text=True))
    for url, text in seen.items():
        assert not INTERNAL_CODE.findall(text), (url, INTERNAL_CODE.findall(text))
        assert not ISO_TIME.findall(text), (url, ISO_TIME.findall(text))
        assert not english_words(text), (url, sorted(english_words(text)))


def test_one_row_of_tabs_the_same_on_both_sides_and_calls_once_they_exist(app, client, world):
    cred = world["mine"]
    token = portal_token(app, cred)
    page = client.get(f"/settings/{cred.id}/main", query_string={"_s": token}).get_data(as_text=True)
    assert page.count('class="b24-tabs"') == 1
    tabs = re.findall(r'class="b24-tab[^"]*" id="(tab-[a-z-]+)"[^>]*>([^<]+)<', page)
    assert [label for _id, label in tabs] == ["Главная", "Чаты и офлайн заявки", "Звонки", "Журнал", "Подключение"]
    assert visible_text(page).count("Главная") == 1 + visible_text(page).count("«Главная»")
    add_event(cred, 4, kind="call", stage="finished")
    with client.session_transaction() as session:
        session["uis_account_id"] = world["account"].id
    uis_page = client.get(f"/uis/credentials/{cred.id}").get_data(as_text=True)
    labels = [label for _id, label in re.findall(r'class="b24-tab[^"]*" id="(tab-[a-z-]+)"[^>]*>([^<]+)<', uis_page)]
    assert labels == ["Главная", "Чаты и офлайн заявки", "Звонки", "Журнал", "Подключение"]
    assert 'class="b24-tab active" id="tab-connection"' in uis_page


def test_each_switch_says_what_it_gates(app, client, world):
    cred = world["mine"]
    token = portal_token(app, cred)
    main = visible_text(client.get(f"/settings/{cred.id}/main", query_string={"_s": token}).get_data(as_text=True))
    assert "Интеграция активна — главный выключатель для всех каналов" in main
    chats = client.get(f"/settings/{cred.id}/channels/chats", query_string={"_s": token}).get_data(as_text=True)
    offline = client.get(f"/settings/{cred.id}/channels/offline", query_string={"_s": token}).get_data(as_text=True)
    assert "Интеграция активна — для чатов" in visible_text(chats)
    assert "Интеграция активна — для офлайн заявок" in visible_text(offline)


# --- the setup checklist ---------------------------------------------------------------------------
def steps(page: str) -> dict[str, str]:
    return dict(re.findall(r'id="setup-([a-z_]+)" data-done="(yes|no)"', page))


def test_a_fresh_install_shows_what_is_missing_with_a_link_to_fix_each(app, client, world):
    cred = world["mine"]
    cred.uis_account_id = None
    db.session.commit()
    page = client.get("/app", query_string={"_s": portal_token(app, cred)}).get_data(as_text=True)
    assert steps(page) == {"installed": "yes", "account": "no", "notifications": "no", "main_active": "no",
                           "sync": "no", "employees": "no"}
    text = visible_text(page)
    assert "1 из 6" in text
    assert 'id="setup-claim"' in page and "/uis/claim/" in page  # the claim button
    for event in ("offline_message", "chat_finished", "lost_chat"):
        assert f'id="arrival-{event}" data-arrived="no"' in page and f'href="#event-{event}"' in page
    assert text.count("ни одного") == 3
    assert "«Уведомления» → «Добавить»; событие «Офлайн заявка»; обработчик «HTTP»; метод POST" in text
    assert f"/settings/{cred.id}/main" in page and f"/settings/{cred.id}/main#sync" in page.replace("&amp;", "&") \
        or "#sync" in page


def test_everything_done_turns_every_line_green(app, client, world):
    cred = world["mine"]
    synced(cred)
    db.session.query(EmployeeLink).filter_by(uis_employee_id=502).update(
        {"b24_user_id": 12, "how": "manual", "reason": None})
    db.session.commit()
    settings_store.save_channel(cred.id, "main", True, {})
    add_event(cred, 1)
    add_event(cred, 2, kind="chat", stage="finished", payload={"chat_id": 5})
    add_event(cred, 3, kind="chat", stage="lost", payload={"chat_id": 6}, created_at=datetime(2026, 3, 11, 8, 15))
    page = client.get("/app", query_string={"_s": portal_token(app, cred)}).get_data(as_text=True)
    assert set(steps(page).values()) == {"yes"}
    text = visible_text(page)
    assert "6 из 6" in text and "2 из 2" in text
    assert "последнее получено 11.03.2026 11:15" in text  # the account's zone (Moscow)


def test_employees_matched_n_of_m_and_notifications_per_event(app, client, world):
    cred = world["mine"]
    synced(cred)
    add_event(cred, 1)
    page = client.get("/app", query_string={"_s": portal_token(app, cred)}).get_data(as_text=True)
    assert steps(page)["employees"] == "no" and "1 из 2" in visible_text(page)
    assert 'id="arrival-offline_message" data-arrived="yes"' in page
    assert 'id="arrival-chat_finished" data-arrived="no"' in page


def test_check_runs_sample_requests_through_parsing_and_the_planner_and_writes_nothing(app, client, world):
    cred = world["mine"]
    synced(cred)
    settings_store.save_channel(cred.id, "main", True, {})
    before = Event.query.count()
    page = client.get("/app", query_string={"_s": portal_token(app, cred), "check": "1"}).get_data(as_text=True)
    assert Event.query.count() == before  # nothing stored; the network guard proves nothing was sent
    assert 'id="check-offline_message" data-action="create"' in page
    text = visible_text(page)
    assert "будет создано" in text and "Лид: «" in text
    assert "Ответственный: Петров Иван (7)" in text or "Ответственный: Иван Петров (7)" in text
    settings_store.save_channel(cred.id, "main", False, {})
    page = client.get("/app", query_string={"_s": portal_token(app, cred), "check": "1"}).get_data(as_text=True)
    assert 'id="check-offline_message" data-action="skip"' in page
    assert "Интеграция выключена на вкладке «Главная»." in visible_text(page)


def test_check_on_the_uis_side_too(app, client, world):
    cred = world["mine"]
    with client.session_transaction() as session:
        session["uis_account_id"] = world["account"].id
    page = client.get(f"/uis/credentials/{cred.id}", query_string={"check": "1"}).get_data(as_text=True)
    assert 'id="check-chat_finished"' in page and 'id="setup-account" data-done="yes"' in page


# --- forms agree with the server ----------------------------------------------------------------------
def test_browser_limits_are_the_servers(app, client, world):
    cred = world["mine"]
    token = portal_token(app, cred)
    section = client.get(f"/settings/{cred.id}/channels/chats", query_string={"_s": token}).get_data(as_text=True)
    for entity in ("lead", "deal", "activity"):
        assert re.search(rf'id="title_{entity}"[^>]*maxlength="{titles.MAX_LENGTH}"', section)
    main = client.get(f"/settings/{cred.id}/main", query_string={"_s": token}).get_data(as_text=True)
    # Without a sync the sources are free text: the WTForms validators give the attributes.
    assert re.search(r'<input[^>]*id="lead_source_offline"[^>]*maxlength="50"[^>]*required', main)
    with client.session_transaction() as session:
        session["uis_account_id"] = world["account"].id
    connect = client.get("/uis/connect").get_data(as_text=True)
    assert re.search(rf'<input[^>]*id="name"[^>]*maxlength="{NAME_MAX_LENGTH}"[^>]*required', connect)
    assert re.search(r'<input[^>]*id="portal"[^>]*maxlength="300"[^>]*required', connect)


def test_an_empty_condition_is_flagged_next_to_it(app, client, world):
    cred = world["mine"]
    token = portal_token(app, cred)
    page = client.post(f"/settings/{cred.id}/channels/chats", data={
        "_s": token, "action": "add_cond:filter:0",
        "filter.0.kind": "group", "filter.0.op": "and"}).get_data(as_text=True)
    cond = re.search(r'<div class="filter-cond is-empty" data-path="0\.0">.*?filter-cond-empty"([^>]*)>', page, re.S)
    assert cond is not None and "hidden" not in cond.group(1)  # flagged, and the note is shown
    assert re.search(rf'name="filter\.0\.0\.value"[^>]*maxlength="{filters.MAX_VALUE_LENGTH}"', page)


# --- links and the event page ------------------------------------------------------------------------
def test_entity_links_carry_the_portal_path_for_the_slider(app, client, world):
    cred = world["mine"]
    event = add_event(cred, 1, status="done", result={"lead_id": 5, "activity_id": 9})
    token = portal_token(app, cred)
    journal = client.get(f"/journal/{cred.id}", query_string={"_s": token}).get_data(as_text=True)
    assert 'href="https://p1.bitrix24.ru/crm/lead/details/5/"' in journal
    assert 'data-b24-path="/crm/lead/details/5/"' in journal
    detail = client.get(f"/journal/{cred.id}/events/{event.id}", query_string={"_s": token}).get_data(as_text=True)
    assert 'data-b24-path="/crm/lead/details/5/"' in detail


def test_the_event_page_reads_in_order_and_folds_the_raw_data(app, client, world):
    cred = world["mine"]
    synced(cred)
    event = add_event(cred, 1, status="done", result={"lead_id": 5, "plan": {
        "responsible_id": 12, "responsible_reason": "правило «Москва»", "title": "Заявка с shop.example.ru",
        "repeat": True}})
    page = client.get(f"/journal/{cred.id}/events/{event.id}",
                      query_string={"_s": portal_token(app, cred)}).get_data(as_text=True)
    order = [page.index(f'id="{part}"') for part in ("event-incoming", "event-decision", "event-created",
                                                       "event-raw")]
    assert order == sorted(order)
    text = visible_text(page)
    assert "Клиент Сергей, 79161234567" in text and "Сайт shop.example.ru" in text and "Текст Перезвоните" in text
    assert "Кузнецова Ольга (12)" in text or "Ольга Кузнецова (12)" in text
    assert "правило «Москва»" in text and "повторное" in text
    assert re.search(r'<details>\s*<summary>Исходные данные</summary>', page)


# --- the UIS side's language -------------------------------------------------------------------------------
def test_the_claim_link_carries_the_portal_language_and_the_uis_side_keeps_it(app, client, world):
    cred = world["mine"]
    cred.uis_account_id = None
    db.session.commit()
    token = factories.portal_token(app, cred, lang="en")
    page = client.get("/app", query_string={"_s": token}).get_data(as_text=True)
    link = re.search(r'id="finish-on-uis" href="([^"]+)"', page).group(1)
    assert link.endswith("?lang=en")
    path = link.split("localhost", 1)[-1] if "localhost" in link else link[link.index("/uis/"):]
    client.get(path[path.index("/uis/"):])
    sign_in = client.get("/uis/").get_data(as_text=True)  # no ?lang= any more: the session kept it
    assert "Data API key" in sign_in and "Ключ UIS Data API" not in sign_in


def test_without_a_language_in_the_link_the_accounts_portals_decide(app, client, world):
    from bx_app.web.uis_side import account_language

    cred = world["mine"]
    cred.portal.lang = "de"
    db.session.commit()
    assert account_language(world["account"]) == "en"
    cred.portal.lang = "ru"
    db.session.commit()
    assert account_language(world["account"]) == "ru"


def test_journal_days_in_the_page_language(app, client, world):
    cred = world["mine"]
    add_event(cred, 1)
    page = client.get(f"/journal/{cred.id}", query_string={"_s": portal_token(app, cred),
                                                           "date_from": "10.03.2026"}).get_data(as_text=True)
    assert 'placeholder="ДД.ММ.ГГГГ"' in page and 'value="10.03.2026"' in page and 'type="date"' not in page
