"""The sandbox UIS cabinet in Chromium: the hook URL is pre-filled, "Позвонить" sends one call's notifications."""
from __future__ import annotations

import json
import threading

import pytest
import requests
from werkzeug.serving import make_server

from bx_app.sandbox.uis import create_uis_app
from tests.e2e.conftest import shot
from tests.sandbox import uis_fixtures

hook_server = uis_fixtures.hook_server


@pytest.fixture
def cabinet_url():
    server = make_server("127.0.0.1", 0, create_uis_app(app_url="http://127.0.0.1:8000"), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


def test_cabinet_prefills_the_hook_and_places_a_missed_call(page, cabinet_url, hook_server):
    base, received = hook_server
    hook = f"{base}/hooks/uis/credential-token"
    requests.post(f"{cabinet_url}/control/config", json={"hook_url": hook}, timeout=10).raise_for_status()
    page.goto(f"{cabinet_url}/")
    header = page.locator("header span")
    colour = header.evaluate("e => getComputedStyle(e).color")
    assert colour in ("rgb(232, 238, 246)", "rgb(255, 255, 255)")
    assert page.locator("header code").evaluate("e => getComputedStyle(e).color") == "rgb(255, 255, 255)"
    assert page.input_value("#call input[name=hook_url]") == hook
    assert page.input_value("#hook-url") == hook
    shot(page, "uis-cabinet-01-prefilled")

    page.select_option("#call select[name=answered]", "no")
    page.uncheck("#call input[name=with_record]")
    page.click("#place-call")
    page.wait_for_selector("#msg")
    assert "пропущен" in page.inner_text("#msg")
    names = [json.loads(r["body"])["notification_name"] for r in received]
    assert names == ["Входящий звонок на виртуальный номер", "Потерянный звонок", "Завершение звонка"]
    assert all(r["path"] == "/hooks/uis/credential-token" for r in received)
    page.locator("#call").scroll_into_view_if_needed()
    shot(page, "uis-cabinet-02-missed-call")

    # An answered call with a record: the record link on the page plays from the sandbox itself.
    page.select_option("#call select[name=answered]", "yes")
    page.check("#call input[name=with_record]")
    page.click("#place-call")
    page.wait_for_selector("#msg")
    link = page.locator("#call a", has_text="запись").first.get_attribute("href")
    assert link.startswith(f"{cabinet_url}/media/") and link.endswith(".mp3")
    record = requests.get(link, timeout=10)
    assert record.status_code == 200 and record.headers["Content-Type"] == "audio/mpeg"
    assert json.loads(received[-1]["body"])["call_record_file_info"]["file_link"] == link
