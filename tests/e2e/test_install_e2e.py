"""End to end (P2, I2): install the app into the sandbox portal and use it inside the portal's iframe."""
from __future__ import annotations

import pytest

from tests.e2e.conftest import BASE_FLAGS, CHROMIUM, launch, shot
from tests.e2e.portal_steps import app_frame, follow, install_and_open, out_of_process_app_frames

# What turned site isolation off here once; kept only to show the out-of-process check tells the difference.
ISOLATION_OFF = ["--disable-site-isolation-trials", "--disable-features=IsolateOrigins,site-per-process"]


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
        assert "/uis/claim/" in stack.claim_link  # I2: finish the setup on the UIS side
        shot(page, f"{prefix}-03-app-in-portal")
        # The app works across pages without cookies: to the settings and back, inside the iframe.
        follow(frame, "#tab-main", "#main-form")
        shot(page, f"{prefix}-04-settings-in-portal")
        follow(frame, "a.b24-tab:text-is('Подключение')", "#portal-domain")
        assert frame.inner_text("#portal-domain") == stack.portal_url.split("//")[1]
        assert context.cookies("http://localhost") == [] or block_cookies is False
        state = stack.portal_state()
        assert any(b["event"] == "ONAPPUNINSTALL" for b in state["bound_events"])
        context.close()
    finally:
        browser.close()


def test_the_app_frame_runs_out_of_process_as_in_users_browsers(stack, playwright_instance):
    """Site isolation stays on in these tests: the portal page and the app's cross-site iframe live in two
    renderer processes, so waits and screenshots here meet what users' browsers do."""
    stack.portal_control({"reset": True})
    browser = launch(playwright_instance)
    try:
        page = browser.new_context(viewport={"width": 1280, "height": 900}, locale="ru-RU").new_page()
        frame = install_and_open(stack, page, "isolation")
        targets = out_of_process_app_frames(page, stack.app_url)
        assert [t["url"] for t in targets] == [frame.url]
        assert page.main_frame.url.startswith(stack.portal_url)
    finally:
        browser.close()
    # The same page in a browser with isolation turned off: the frame is there, its own process is not.
    browser = playwright_instance.chromium.launch(executable_path=CHROMIUM, headless=True,
                                                  args=BASE_FLAGS + ISOLATION_OFF)
    try:
        page = browser.new_context(viewport={"width": 1280, "height": 900}, locale="ru-RU").new_page()
        page.goto(f"{stack.portal_url}/?user=1&lang=ru&view=app")
        app_frame(page).wait_for_selector("#portal-domain")
        assert out_of_process_app_frames(page, stack.app_url) == []
    finally:
        browser.close()
