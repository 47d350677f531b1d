"""Steps an end-to-end test takes in the sandbox portal and the UIS side, shared by the e2e tests."""
from __future__ import annotations

import re
import sqlite3
import time

from tests.e2e.conftest import shot

UIS_TOKEN = "sandbox-uis-token"


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
    stack.last_install_page = install.value.text()
    assert "BX24.installFinish()" in stack.last_install_page
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




def claim_link(install_page: str) -> str:
    match = re.search(r'href="([^"]*/uis/claim/[^"]+)"', install_page)
    assert match, "the install page links to the UIS side"
    return match.group(1)


def sign_in_uis(page, token: str = UIS_TOKEN) -> None:
    page.fill("#token", token)
    page.click("#sign-in-submit")


def db_rows(stack, sql: str, *args) -> list[tuple]:
    with sqlite3.connect(stack.workdir / "app.db", timeout=30) as connection:
        return connection.execute(sql, args).fetchall()


def leads_by_origin(stack, origin: str, portal_url: str | None = None) -> list[dict]:
    return [lead for lead in stack.portal_state(portal_url)["leads"] if lead.get("ORIGIN_ID") == origin]
