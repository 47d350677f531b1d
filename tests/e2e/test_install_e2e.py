"""End to end (P2, I2): install the app into the sandbox portal and use it inside the portal's iframe."""
from __future__ import annotations

import time

import pytest

from tests.e2e.conftest import launch, shot


def wait_until(predicate, timeout: float = 20.0, message: str = "condition", page=None):
    """Poll; with a page, wait through Playwright so its events keep flowing."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        if page is not None:
            page.wait_for_timeout(200)
        else:
            time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {message}")


def app_frame(page):
    """The frame that shows our app (served from localhost, a different site than the portal)."""
    def find():
        for frame in page.frames:
            if frame.url.startswith("http://localhost:") and "/app" in frame.url:
                return frame
        return None
    return wait_until(find, message="the app's iframe", page=page)


def install_and_open(stack, page, prefix: str):
    page.goto(f"{stack.portal_url}/?user=1&lang=ru")
    shot(page, f"{prefix}-01-portal-before-install")
    seen = []
    page.on("response", lambda r: seen.append((r.url, r.status)))
    with page.expect_response(lambda r: r.url.startswith("http://localhost:") and "/install?" in r.url) as install:
        page.click("#install-button")
    assert install.value.status == 200
    assert "BX24.installFinish()" in install.value.text()
    # The installer page calls BX24.installFinish(); the portal then reloads the slot into the app.
    wait_until(lambda: any("/sandbox/portal/install-finish" in url and status == 200 for url, status in seen),
               message="the installer's BX24.installFinish()", page=page)
    wait_until(lambda: stack.portal_state()["installed"], message="installFinish to reach the portal", page=page)
    # ONAPPINSTALL is delivered by the portal's queue after installFinish; both are idempotent.
    wait_until(lambda: any(d.get("event") == "ONAPPINSTALL" and d.get("status") == 200
                           for d in stack.portal_state()["event_deliveries"]), message="ONAPPINSTALL delivery")
    page.goto(f"{stack.portal_url}/?user=1&lang=ru&view=app")
    frame = app_frame(page)
    frame.wait_for_selector("#portal-domain", timeout=15000)
    shot(page, f"{prefix}-02-app-opened")
    return frame


@pytest.mark.parametrize("block_cookies", [False, True], ids=["cookies-allowed", "third-party-cookies-blocked"])
def test_P2_install_into_portal_and_open_the_app(stack, playwright_instance, block_cookies):
    stack.portal_control({"reset": True})
    browser = launch(playwright_instance, block_third_party_cookies=block_cookies)
    try:
        context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="ru-RU")
        page = context.new_page()
        prefix = "install-3pc-blocked" if block_cookies else "install"
        frame = install_and_open(stack, page, prefix)
        assert frame.inner_text("#portal-domain") == stack.portal_url.split("//")[1]
        assert frame.get_attribute("#portal-status", "data-status") == "installed"
        shot(page, f"{prefix}-03-app-in-portal")
        # The app works across pages without cookies: follow a link inside the iframe.
        frame.click("a.b24-tab")
        frame.wait_for_selector("#portal-domain")
        assert context.cookies("http://localhost") == [] or block_cookies is False
        state = stack.portal_state()
        assert any(b["event"] == "ONAPPUNINSTALL" for b in state["bound_events"])
        context.close()
    finally:
        browser.close()
