"""End to end (P2, I2): install the app into the sandbox portal and use it inside the portal's iframe."""
from __future__ import annotations

import pytest

from tests.e2e.conftest import launch, shot
from tests.e2e.portal_steps import install_and_open


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
        # The app works across pages without cookies: follow a link inside the iframe.
        frame.click("a.b24-tab")
        frame.wait_for_selector("#portal-domain")
        assert context.cookies("http://localhost") == [] or block_cookies is False
        state = stack.portal_state()
        assert any(b["event"] == "ONAPPUNINSTALL" for b in state["bound_events"])
        context.close()
    finally:
        browser.close()
