"""Steps an end-to-end test takes in the sandbox portal and the UIS side, shared by the e2e tests."""
from __future__ import annotations

import contextlib
import os
import signal
import sqlite3
import time
from pathlib import Path

from tests.e2e.conftest import settle, shot

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
    """The frame that shows our app (served from localhost, a different site than the portal), loaded."""
    def find():
        for frame in page.frames:
            if frame.url.startswith("http://localhost:") and "/app" in frame.url:
                return frame
        return None
    frame = wait_until(find, message="the app's iframe", page=page)
    frame.wait_for_load_state("load", timeout=30000)
    return frame


def follow(frame, click: str, then: str, timeout: float = 30000):
    """Click what takes the app's frame to its next page, as a user does: wait for that page's element,
    then for the frame to be fitted to it and painted, so the next click lands where the user would see."""
    with frame.expect_navigation(timeout=timeout):
        frame.click(click)
    frame.wait_for_selector(then, timeout=timeout)
    settle(frame.page)
    return frame


def out_of_process_app_frames(page, app_url: str) -> list[dict]:
    """The browser's iframe targets showing the app. Chromium makes a frame a DevTools target of its own
    exactly when it runs in another renderer process than its parent (an out-of-process iframe)."""
    session = page.context.browser.new_browser_cdp_session()
    try:
        targets = session.send("Target.getTargets")["targetInfos"]
    finally:
        session.detach()
    return [t for t in targets if t["type"] == "iframe" and t["url"].startswith(f"{app_url}/")]


def install_and_open(stack, page, prefix: str):
    page.goto(f"{stack.portal_url}/?user=1&lang=ru")
    shot(page, f"{prefix}-01-portal-before-install")
    seen = []
    page.on("response", lambda r: seen.append((r.url, r.status)))
    with page.expect_response(lambda r: r.url.startswith("http://localhost:") and "/install?" in r.url) as install:
        page.click("#install-button")
    assert install.value.status == 200
    stack.last_install_page = None
    with contextlib.suppress(Exception):  # the installer may already have reloaded into the app
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
    # Site isolation is on, as in users' browsers: the app's cross-site frame has a process of its own.
    assert out_of_process_app_frames(page, stack.app_url), "the app's iframe runs inside the portal's process"
    finish = frame.query_selector("#finish-on-uis")
    stack.claim_link = finish.get_attribute("href") if finish else None
    shot(page, f"{prefix}-02-app-opened")
    return frame


def sign_in_uis(page, token: str = UIS_TOKEN) -> None:
    page.fill("#token", token)
    page.click("#sign-in-submit")


def db_rows(stack, sql: str, *args) -> list[tuple]:
    with sqlite3.connect(stack.workdir / "app.db", timeout=30) as connection:
        return connection.execute(sql, args).fetchall()


def leads_by_origin(stack, origin: str, portal_url: str | None = None) -> list[dict]:
    return [lead for lead in stack.portal_state(portal_url)["leads"] if lead.get("ORIGIN_ID") == origin]


def install_claim_activate(stack, page, prefix: str) -> dict:
    """Install from the portal, claim the credential on the UIS side, turn the Main tab on: the hook and ids."""
    stack.portal_control({"reset": True})
    frame = install_and_open(stack, page, prefix)
    hook_url = frame.input_value("#hook-url").strip()
    page.goto(stack.claim_link)
    page.wait_for_selector("#sign-in")
    sign_in_uis(page)
    page.wait_for_selector("#claim-confirm")
    page.click("#claim-confirm")
    page.wait_for_selector("#credentials-table, #credential")
    credential_id = db_rows(stack, "SELECT id FROM credential")[0][0]
    page.goto(f"{stack.app_url}/settings/{credential_id}/main")
    page.check("input[name=active]")
    page.click("#save-main")
    page.wait_for_load_state()
    shot(page, f"{prefix}-main-tab-active")
    return {"hook_url": hook_url, "credential_id": credential_id}


def _children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def kill_worker(stack) -> list[int]:
    """SIGKILL the worker *and* the work horse running its job: RQ puts the horse in a session of its own,
    so killing the worker's process group alone leaves the job running."""
    proc = stack.procs.get("worker")
    if proc is None:
        return []
    pids = []
    todo = [proc.pid]
    while todo:
        pid = todo.pop()
        pids.append(pid)
        todo.extend(_children(pid))
    for pid in reversed(pids[1:]):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    stack.kill("worker", signal.SIGKILL)
    return pids
