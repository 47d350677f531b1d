"""End-to-end fixtures: the real stack as processes and headless Chromium driven by Playwright."""
from __future__ import annotations

import contextlib
import shutil
from pathlib import Path

import pytest

from tests.e2e.stack import Stack

ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
CHROMIUM = "/usr/bin/chromium"
# Site isolation stays on, as in users' browsers: the app's cross-site iframe runs out of process
# (test_app_frame_is_out_of_process fails if a flag here turns that off).
BASE_FLAGS = ["--no-sandbox", "--disable-background-networking", "--disable-component-update", "--disable-sync",
              "--disable-gpu", "--no-first-run", "--disable-quic"]
# Chromium's switch that makes it block third-party cookies as with the phase-out.
BLOCK_THIRD_PARTY_COOKIES = ["--test-third-party-cookie-phaseout",
                             "--enable-features=ThirdPartyStoragePartitioning"]


def pytest_collection_modifyitems(items):
    for item in items:
        if "/e2e/" in str(item.fspath):
            item.add_marker(pytest.mark.e2e)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """A failed end-to-end test reports what the processes logged and what its browser page showed last."""
    outcome = yield
    report = outcome.get_result()
    if report.when != "call" or not report.failed:
        return
    stack = item.funcargs.get("stack")
    if stack is not None:
        report.sections.append(("stack logs", stack.logs()))
    page = item.funcargs.get("page")
    if page is not None and not page.is_closed():
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(Exception):
            page.screenshot(path=str(ARTIFACTS / f"FAILED-{item.name}.png"), timeout=10_000)


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


# Resolves once the frame has run two animation frames from now: what it draws, and where the browser routes
# a click, then match its current layout. Bounded, because Chromium pauses animation frames in a cross-site
# frame scrolled out of sight.
NEXT_PAINT = """(limit) => new Promise(done => {
  const timer = setTimeout(() => done(false), limit);
  requestAnimationFrame(() => requestAnimationFrame(() => { clearTimeout(timer); done(true); }));
})"""
# Resolves once the bottom edge of the frame's last block is inside the top-level viewport. An out-of-process
# frame rasterises only the part of it the portal page shows, and learns which part from the portal's
# process asynchronously; its IntersectionObserver (implicit root) reports exactly that knowledge.
BOTTOM_IN_VIEW = """(limit) => new Promise(done => {
  const blocks = Array.from(document.body ? document.body.children : [])
    .filter(e => e.getBoundingClientRect().height > 0);
  if (!blocks.length) { done(true); return; }
  const last = blocks.reduce((a, b) => b.getBoundingClientRect().bottom > a.getBoundingClientRect().bottom ? b : a);
  const timer = setTimeout(() => done(false), limit);
  const observer = new IntersectionObserver(entries => {
    const seen = entries[entries.length - 1];
    if (seen.isIntersecting && seen.intersectionRect.bottom >= seen.boundingClientRect.bottom - 1) {
      observer.disconnect(); clearTimeout(timer); done(true);
    }
  }, {threshold: Array.from({length: 101}, (_, i) => i / 100)});
  observer.observe(last);
})"""
# The app's iframe has the height of its page, as the app asks the portal for (BX24.resizeWindow): nothing
# scrolls inside it and no stale height is left below (the sandbox portal's frame is at least 200 px tall).
FITTED = """() => {
  const root = document.documentElement, body = document.body, style = getComputedStyle(body);
  const content = body.getBoundingClientRect().height + parseFloat(style.marginTop) + parseFloat(style.marginBottom);
  return root.scrollHeight <= root.clientHeight && (root.clientHeight - content < 2 || root.clientHeight <= 200);
}"""
SETTLE_MS = 30_000
LONGEST_SHOT = 16_000  # px; Chromium's largest surface


def child_frames(page):
    return [f for f in page.frames if f.parent_frame is not None and not f.is_detached()
            and f.url.startswith("http")]


def app_frames(page):
    """Child frames showing a page of the app inside the portal (BX24 present): fitted to their content."""
    return [f for f in child_frames(page) if f.evaluate("() => !!window.BX24")]


def animations_ended(page, selector: str) -> None:
    """The element's CSS animations (a slider sliding in) have run to their end, and that end is painted."""
    page.wait_for_function(
        "s => { const e = document.querySelector(s); return !!e && e.getAnimations({subtree: true})"
        ".every(a => a.playState === 'finished' || a.playState === 'idle'); }", arg=selector, timeout=SETTLE_MS)
    painted(page)


def painted(page) -> None:
    """Every frame, the app's out-of-process one first and the portal last, has drawn its current layout."""
    for frame in child_frames(page) + [page.main_frame]:
        frame.evaluate(NEXT_PAINT, 5_000)


def settle(page) -> None:
    """What a user waits for before looking: each frame loaded, the app's iframe fitted to its page, painted."""
    page.wait_for_load_state("load", timeout=SETTLE_MS)
    for frame in child_frames(page):
        frame.wait_for_load_state("load", timeout=SETTLE_MS)
    for frame in app_frames(page):
        frame.wait_for_function(FITTED, polling=100, timeout=SETTLE_MS)
    painted(page)


def shot(page, name: str) -> Path:
    """The whole page as a user with a tall enough screen sees it, out-of-process app frame included.

    Playwright's full-page capture draws beyond the viewport, where an out-of-process frame has painted
    nothing (it comes out blank); so the viewport itself grows to the page's height for the capture, the
    app's frame is waited for until it knows it is in view and has painted, and the viewport is restored
    and repainted before the test goes on clicking.
    """
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    settle(page)
    viewport = page.viewport_size
    height = min(page.evaluate("() => Math.ceil(document.documentElement.scrollHeight)"), LONGEST_SHOT)
    tall = height > viewport["height"]
    try:
        if tall:
            page.set_viewport_size({"width": viewport["width"], "height": height})
        for frame in app_frames(page):  # (a frame scrolling inside itself never shows its bottom)
            assert frame.evaluate(BOTTOM_IN_VIEW, SETTLE_MS), f"{frame.url} never came into view for {name}"
        painted(page)
        page.screenshot(path=str(path))
    finally:
        if tall:
            page.set_viewport_size(viewport)
            painted(page)
    return path
