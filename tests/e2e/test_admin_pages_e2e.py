"""End to end: every page the administrator sees, in Russian and English at 1280 and 1024 px, inside the
sandbox portal's iframe and on the UIS side; the iframe follows the content's height; copy gives feedback
inside the iframe; the setup checklist turns green from install to the first lead."""
from __future__ import annotations

import re

import pytest

from tests.e2e.conftest import ARTIFACTS, animations_ended, shot
from tests.e2e.portal_steps import app_frame, install_claim_activate, leads_by_origin, wait_until

WIDTHS = (1280, 1024)
INTERNAL_CODE = re.compile(r"\b(?:C[1-9]|O[1-7]|G[1-5]|S[1-4]|P1|I[12]|M1)\b")
ISO_TIME = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}|\bUTC\b")


@pytest.fixture(scope="module")
def world(stack, playwright_instance):
    """Installed, claimed, Main tab on, synced, one offline request turned into a lead."""
    from tests.e2e.conftest import launch

    browser = launch(playwright_instance)
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="ru-RU")
    page = context.new_page()
    try:
        ids = install_claim_activate(stack, page, "admin")
        page.goto(f"{stack.app_url}/settings/{ids['credential_id']}/main")
        with page.expect_navigation():
            page.click("#sync-button")
        page.wait_for_selector("#sync-result", timeout=60000)
        reply = stack.uis_control("/control/offline_messages", {
            "visitor_name": "Сергей Иванов", "visitor_phone_number": "8 (916) 777-88-99",
            "visitor_email": "sergey@example.com", "text": "Перезвоните насчёт дивана «Честер»",
            "site": "shop.example.ru", "form_name": "Обратный звонок", "notify_url": ids["hook_url"]})
        origin = f"offline_message:{reply['row']['id']}"
        ids["lead"] = wait_until(lambda: (leads_by_origin(stack, origin) or [None])[0], timeout=40,
                                 message="the lead in the portal")
        ids["request_id"] = reply["row"]["id"]
    finally:
        context.close()
        browser.close()
    return ids


def visible(frame_or_page) -> str:
    """The text a reader sees, minus code, templates and folded raw data."""
    return frame_or_page.evaluate("""() => {
        const body = document.body.cloneNode(true);
        body.querySelectorAll('script, style, pre, code, textarea, details, select').forEach(n => n.remove());
        return body.innerText;
    }""")


def check_words(text: str, where: str) -> None:
    assert not INTERNAL_CODE.findall(text), (where, INTERNAL_CODE.findall(text))
    assert not ISO_TIME.findall(text), (where, ISO_TIME.findall(text))


def open_app(stack, page, lang: str):
    page.goto(f"{stack.portal_url}/?user=1&lang={lang}&view=app")
    frame = app_frame(page)
    frame.wait_for_selector("#setup")
    return frame


def click_tab(frame, selector: str, wait_for: str):
    with frame.expect_navigation():
        frame.click(selector)
    frame.wait_for_selector(wait_for)


def settle(page, frame) -> None:
    """Wait until the portal has fitted the iframe to the content (app_frame.js → BX24.resizeWindow)."""
    wait_until(lambda: abs(iframe_height(page) - content_height(frame)) <= 4 or content_height(frame) < 200,
               timeout=10, message="the iframe to fit its content", page=page)


def iframe_height(page) -> float:
    return page.eval_on_selector("#app-frame", "e => e.getBoundingClientRect().height")


def content_height(frame) -> float:
    return frame.evaluate("() => document.body.getBoundingClientRect().height")


@pytest.mark.parametrize("lang", ["ru", "en"])
@pytest.mark.parametrize("width", WIDTHS)
def test_every_portal_page_in_both_languages_and_widths(stack, browser, world, lang, width):
    context = browser.new_context(viewport={"width": width, "height": 800}, locale="ru-RU")
    page = context.new_page()
    page.on("dialog", lambda dialog: dialog.accept())
    prefix = f"pages-{lang}-{width}-portal"
    try:
        frame = open_app(stack, page, lang)
        settle(page, frame)
        shot(page, f"{prefix}-01-connection")
        check_words(visible(frame), "connection")
        with frame.expect_navigation():
            frame.click("#setup-check")
        frame.wait_for_selector("#check-offline_message")
        settle(page, frame)
        shot(page, f"{prefix}-02-check")
        pages = [("#tab-main", "#main-form", "03-main"),
                 ("#tab-settings-channels", "#section-form", "04-chats"),
                 ("#section-offline", "#section-form", "05-offline"),
                 ("#tab-calls", "#section-form", "05-calls"),
                 ("#tab-journal", "#journal-table", "06-journal")]
        for selector, wait_for, name in pages:
            click_tab(frame, selector, wait_for)
            settle(page, frame)
            shot(page, f"{prefix}-{name}")
            check_words(visible(frame), name)
            # no horizontal scrolling inside the frame at this width
            assert frame.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth + 1"), name
            # nor inside a table's own scroller (a cut-off column hides its links)
            assert frame.evaluate("() => [...document.querySelectorAll('.journal-table-wrap')]"
                                  ".every(w => w.scrollWidth <= w.clientWidth + 1)"), name
        with frame.expect_navigation():
            frame.click(".journal-time a")
        frame.wait_for_selector("#event-incoming")
        settle(page, frame)
        shot(page, f"{prefix}-07-event")
        check_words(visible(frame), "event")
        if lang == "ru":
            text = visible(frame)
            assert "Сергей Иванов" in text and "shop.example.ru" in text and "Что решено и почему" in text
    finally:
        context.close()


@pytest.mark.parametrize("lang", ["ru", "en"])
@pytest.mark.parametrize("width", WIDTHS)
def test_every_uis_side_page_in_both_languages_and_widths(stack, browser, world, lang, width):
    from tests.e2e.portal_steps import sign_in_uis

    context = browser.new_context(viewport={"width": width, "height": 800}, locale="en-US")
    page = context.new_page()
    page.on("dialog", lambda dialog: dialog.accept())
    prefix = f"pages-{lang}-{width}-uis"
    cid = world["credential_id"]
    try:
        page.goto(f"{stack.app_url}/uis/?lang={lang}")
        shot(page, f"{prefix}-01-sign-in")
        sign_in_uis(page)
        page.wait_for_selector("#credentials-table")
        shot(page, f"{prefix}-02-credentials")
        urls = [(f"/uis/credentials/{cid}", "#setup", "03-connection"),
                (f"/uis/credentials/{cid}?check=1", "#check", "04-check"),
                (f"/settings/{cid}/main", "#main-form", "05-main"),
                (f"/settings/{cid}/channels/chats", "#section-form", "06-chats"),
                (f"/settings/{cid}/channels/offline", "#section-form", "07-offline"),
                (f"/settings/{cid}/channels/calls", "#section-form", "07-calls"),
                (f"/journal/{cid}", "#journal-table", "08-journal"),
                ("/uis/connect", "#name", "10-connect")]
        for url, wait_for, name in urls:
            page.goto(stack.app_url + url)
            page.wait_for_selector(wait_for)
            shot(page, f"{prefix}-{name}")
            check_words(visible(page), name)
            assert page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth + 1"), name
            if lang == "en":
                assert "Главная" not in visible(page) and "Журнал" not in visible(page), name
        page.goto(f"{stack.app_url}/journal/{cid}")
        with page.expect_navigation():
            page.click(".journal-time a")
        page.wait_for_selector("#event-incoming")
        shot(page, f"{prefix}-09-event")
    finally:
        context.close()


def test_the_iframe_grows_and_shrinks_with_the_content(stack, page, world):
    frame = open_app(stack, page, "ru")
    click_tab(frame, "#tab-settings-channels", "#section-form")
    settle(page, frame)
    tall = iframe_height(page)
    assert tall > 1500 and abs(tall - content_height(frame)) <= 4
    click_tab(frame, "#tab-journal", "#journal-table")
    settle(page, frame)
    short = iframe_height(page)
    assert short < tall - 500, (short, tall)  # it shrank: no blank bottom after a tall page
    assert abs(short - content_height(frame)) <= 4
    with frame.expect_navigation():
        frame.click(".journal-time a")
    frame.wait_for_selector("#event-raw")
    settle(page, frame)
    folded = iframe_height(page)
    frame.click("#event-raw summary")  # unfolding the raw data grows the page without a navigation
    wait_until(lambda: iframe_height(page) > folded + 100, timeout=10, message="the frame to grow", page=page)
    settle(page, frame)
    shot(page, "pages-iframe-grown-raw-data")
    frame.click("#event-raw summary")
    wait_until(lambda: abs(iframe_height(page) - folded) <= 4, timeout=10, message="the frame to shrink back",
               page=page)


def test_copy_inside_the_iframe_always_says_what_happened(stack, page, world):
    frame = open_app(stack, page, "ru")
    hook_url = frame.input_value("#hook-url")
    frame.click("button[data-copy='hook-url']")
    feedback = frame.wait_for_selector("#hook-url-copy-feedback:not(:empty)")
    said = feedback.inner_text()
    assert said in ("Скопировано", "Текст выделен: нажмите Ctrl+C"), said
    # Whatever the browser allowed, the text is selected for the user.
    selected = frame.evaluate("""() => { const e = document.activeElement;
        return e && e.value !== undefined ? e.value.substring(e.selectionStart, e.selectionEnd)
                                          : String(window.getSelection()); }""")
    assert selected == hook_url
    shot(page, "pages-copy-feedback-in-iframe")
    # The clipboard API refused (as in Bitrix24's iframe without clipboard-write): execCommand copies.
    frame.evaluate("() => { navigator.clipboard.writeText = () => Promise.reject(new Error('NotAllowedError')); }")
    frame.click("button[data-copy='template-offline_message-POST']")
    note = frame.wait_for_selector("#template-offline_message-POST-copy-feedback:not(:empty)")
    assert note.inner_text() == "Скопировано"
    # Both refused: the text stays selected and the user is told to press Ctrl+C.
    frame.evaluate("() => { document.execCommand = () => false; }")
    frame.click("button[data-copy='template-chat_finished-POST']")
    note = frame.wait_for_selector("#template-chat_finished-POST-copy-feedback:not(:empty)")
    assert note.inner_text() == "Текст выделен: нажмите Ctrl+C"
    selected = frame.evaluate("() => { const e = document.activeElement; return e.value.substring(e.selectionStart, "
                              "e.selectionEnd); }")
    assert selected == frame.input_value("#template-chat_finished-POST")
    shot(page, "pages-copy-feedback-press-ctrl-c")


def test_checklist_turns_green_following_only_what_the_app_shows(stack, page, world):
    frame = open_app(stack, page, "ru")
    done = dict(re.findall(r'id="setup-([a-z_]+)" data-done="(yes|no)"', frame.content()))
    assert {k: done[k] for k in ("installed", "account", "main_active", "sync")} == dict.fromkeys(
        ("installed", "account", "main_active", "sync"), "yes")
    assert frame.get_attribute("#arrival-offline_message", "data-arrived") == "yes"
    assert frame.get_attribute("#arrival-chat_finished", "data-arrived") == "no"
    shot(page, "pages-checklist-before-chats")
    # The chat lines say "ни одного" until UIS sends them: a finished chat and a lost one.
    for status in ("succeed", "lost"):
        chat = stack.uis_control("/control/chats", {"visitor_name": "Гость", "visitor_phone_number": "79160000001",
                                                    "text": "Здравствуйте", "status": "active"})
        chat_id = chat["row"]["id"]
        stack.uis_control(f"/control/chats/{chat_id}/finish", {"status": status, "notify_url": world["hook_url"]})
    # Employees: the line links to the matching table; an unmatched one is matched by hand there.
    if done["employees"] == "no":
        with frame.expect_navigation():
            frame.click("#setup-employees a")
        frame.wait_for_selector("#employees")
        while frame.query_selector("tr[data-matched=no] select[name=b24_user_id]"):
            row = frame.query_selector("tr[data-matched=no]")
            options = row.query_selector_all("select[name=b24_user_id] option")
            row.query_selector("select[name=b24_user_id]").select_option(options[1].get_attribute("value"))
            with frame.expect_navigation():
                row.query_selector("button[type=submit]").click()
            frame.wait_for_selector("#notice")
        click_tab(frame, "#tab-connection", "#setup")
    def chats_arrived():
        if frame.get_attribute("#arrival-lost_chat", "data-arrived") == "yes":
            return True
        frame.goto(frame.url)
        frame.wait_for_selector("#setup")
        return False

    wait_until(chats_arrived, timeout=30, message="the chat notifications on the checklist", page=page)
    settle(page, frame)
    shot(page, "pages-checklist-all-green")
    done = dict(re.findall(r'id="setup-([a-z_]+)" data-done="(yes|no)"', frame.content()))
    assert set(done.values()) == {"yes"}, done


def test_an_entity_link_opens_in_the_portals_slider(stack, page, world):
    frame = open_app(stack, page, "ru")
    click_tab(frame, "#tab-journal", "#journal-table")
    lead_id = world["lead"]["ID"]
    link = frame.wait_for_selector(f"a.entity-link[data-b24-path='/crm/lead/details/{lead_id}/']")
    pages_before = len(page.context.pages)
    link.click()
    slider = page.wait_for_selector("#b24-slider iframe")
    assert f"/crm/lead/details/{lead_id}/" in slider.get_attribute("src")
    assert len(page.context.pages) == pages_before  # no new tab: the portal's slider, as in Bitrix24
    animations_ended(page, "#b24-slider")
    # The viewport as the user sees it (the slider is fixed over the portal; a full-page shot waits for
    # every frame to scroll into view, which a fixed overlay never does).
    page.screenshot(path=str(ARTIFACTS / "pages-entity-in-slider.png"))
    page.click("#b24-slider-close")
    page.wait_for_selector("#b24-slider", state="detached")
