"""End-to-end fixtures: the real stack as processes and headless Chromium driven by Playwright."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.e2e.stack import Stack

ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
BASE_FLAGS = ["--no-sandbox", "--disable-background-networking", "--disable-component-update", "--disable-sync",
              "--disable-gpu", "--no-first-run", "--disable-quic",
              # The app's iframe is cross-site, hence out of process; headless full-page screenshots then
              # leave it blank and stale hit-testing can swallow the next click. In-process frames keep
              # both right; cookies and storage stay partitioned by site all the same.
              "--disable-site-isolation-trials", "--disable-features=IsolateOrigins,site-per-process"]
# Chromium's switch that makes it block third-party cookies as with the phase-out.
BLOCK_THIRD_PARTY_COOKIES = ["--test-third-party-cookie-phaseout",
                             "--enable-features=ThirdPartyStoragePartitioning"]


def pytest_collection_modifyitems(items):
    for item in items:
        if "/e2e/" in str(item.fspath):
            item.add_marker(pytest.mark.e2e)


@pytest.fixture(autouse=True)
def _no_network():
    """End-to-end tests run real processes on loopback: the unit tests' socket guard stays off here."""
    yield


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    if not shutil.which("redis-server"):
        pytest.fail("redis-server is not installed: run ./scripts/test")
    stack = Stack(workdir=tmp_path_factory.mktemp("stack"))
    try:
        stack.start()
    except Exception:
        print(stack.logs())
        stack.stop()
        raise
    yield stack
    stack.stop()


@pytest.fixture(scope="session")
def playwright_instance():
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail("chromium is not installed: run ./scripts/test")
    with sync_playwright() as p:
        yield p


def launch(playwright_instance, block_third_party_cookies: bool = False):
    args = BASE_FLAGS + (BLOCK_THIRD_PARTY_COOKIES if block_third_party_cookies else [])
    return playwright_instance.chromium.launch(executable_path=CHROMIUM, headless=True, args=args)


@pytest.fixture
def browser(playwright_instance):
    browser = launch(playwright_instance)
    yield browser
    browser.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="ru-RU")
    page = context.new_page()
    yield page
    context.close()


def shot(page, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    # A full-page screenshot resizes the viewport and back; the portal then refits the app's iframe
    # (BX24.fitWindow). Let that settle, or the next click may land where a button used to be.
    page.wait_for_timeout(400)
    return path
