"""BX24.js in headless Chromium: the portal page honours fitWindow/resizeWindow (the app's frame grows and
shrinks) and openPath (a portal page in a slider over the portal, the app told when it closes). A bare test
app stands in for ours, so only the sandbox is under test (the browser and its page: tests/e2e/conftest.py)."""
from __future__ import annotations

import threading
from pathlib import Path

import pytest
from flask import Flask
from werkzeug.serving import make_server

from bx_app.sandbox.portal import create_sandbox
from tests.conftest import free_port
from tests.e2e.conftest import animations_ended

ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
APP_PAGE = """<!doctype html><html><head><meta charset="utf-8"><script src="{portal}/bx24.js"></script></head>
<body style="margin:0;font:14px Arial"><div id="content" style="height:900px;background:#e6f7ff">Тестовое приложение</div>
<script>BX24.init(function () {{ window.ready = true; }});</script></body></html>"""


@pytest.fixture
def portal_with_app():
    app_port, oauth_port, portal_port = free_port(), free_port(), free_port()
    oauth_app, portal_apps, state = create_sandbox(f"http://localhost:{app_port}", "app.t", "s", oauth_port,
                                                   [portal_port])
    portal_url = f"http://127.0.0.1:{portal_port}"
    test_app = Flask("bx24_test_app")
    test_app.add_url_rule("/app", "app", lambda: APP_PAGE.format(portal=portal_url), methods=["GET", "POST"])
    servers = [make_server("127.0.0.1", port, wsgi, threaded=True)
               for port, wsgi in ((app_port, test_app), (oauth_port, oauth_app), (portal_port, portal_apps[portal_port]))]
    for server in servers:
        threading.Thread(target=server.serve_forever, daemon=True).start()
    portal = state.portals[portal_port]
    with state.lock:
        portal.mark_installed()
        lead = portal.crm.add("lead", {"fields": {"TITLE": "Лид из слайдера"}}, 1, state.now())
    yield portal_url, lead
    for server in servers:
        server.shutdown()


def _frame_height(page) -> int:
    return page.evaluate("() => document.getElementById('app-frame').getBoundingClientRect().height")


def test_fit_and_resize_grow_and_shrink_the_frame(portal_with_app, page):
    portal_url, _lead = portal_with_app
    page.goto(f"{portal_url}/?view=app&user=1")
    app = page.frame_locator("#app-frame").locator("#content")
    app.wait_for()
    frame = page.frame(name=page.evaluate("() => document.getElementById('app-frame').name"))
    frame.wait_for_function("() => window.ready === true")
    frame.evaluate("() => BX24.fitWindow()")
    page.wait_for_function("() => document.getElementById('app-frame').getBoundingClientRect().height === 900")
    frame.evaluate("() => { document.getElementById('content').style.height = '350px'; BX24.fitWindow(); }")
    page.wait_for_function("() => document.getElementById('app-frame').getBoundingClientRect().height === 350")
    frame.evaluate("() => BX24.resizeWindow(800, 1300)")
    page.wait_for_function("() => document.getElementById('app-frame').getBoundingClientRect().height === 1300")
    frame.evaluate("() => BX24.resizeWindow(800, 420)")
    page.wait_for_function("() => document.getElementById('app-frame').getBoundingClientRect().height === 420")
    assert _frame_height(page) == 420


def test_open_path_shows_the_portal_page_in_a_slider(portal_with_app, page):
    portal_url, lead = portal_with_app
    page.goto(f"{portal_url}/?view=app&user=1")
    frame_name = page.evaluate("() => document.getElementById('app-frame').name")
    page.frame_locator("#app-frame").locator("#content").wait_for()
    frame = page.frame(name=frame_name)
    frame.wait_for_function("() => window.ready === true")
    frame.evaluate("() => BX24.openPath('https://elsewhere.example/x', r => { window.refused = r; })")
    frame.wait_for_function("() => window.refused && window.refused.result === 'error'")
    frame.evaluate(f"() => BX24.openPath('/crm/lead/details/{lead}/', r => {{ window.sliderResult = r; }})")
    slider = page.frame_locator("#b24-slider-frame")
    slider.locator("#entity-title").wait_for()
    assert "Лид из слайдера" in slider.locator("#entity-title").inner_text()
    assert slider.locator(".b24-topbar").count() == 0  # a slider shows the card, not the whole portal
    src = page.get_attribute("#b24-slider-frame", "src")
    assert src.startswith(f"/crm/lead/details/{lead}/?") and "IFRAME=Y" in src
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    animations_ended(page, "#b24-slider")  # the slide-in animation
    page.screenshot(path=str(ARTIFACTS / "sandbox-open-path-slider.png"))
    assert frame.evaluate("() => window.sliderResult === undefined")
    page.click("#b24-slider-close")
    frame.wait_for_function("() => window.sliderResult && window.sliderResult.result === 'close'")
    assert page.locator("#b24-slider").count() == 0
