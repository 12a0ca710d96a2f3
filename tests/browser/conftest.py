"""Browser tests: Playwright for Python driving Debian's Chromium (/usr/bin/chromium, from
`apt-get install -y chromium`; Playwright's own browser download is never used) against
pytest-django's live server, logged in through the real login page.

Without Chromium the tests skip with the reason; under CI=true a missing browser fails.

Playwright's sync API runs an asyncio loop in the main thread, so Django would refuse the
ORM in test bodies (SynchronousOnlyOperation) without DJANGO_ALLOW_ASYNC_UNSAFE. The
tests touch the ORM only to arrange rows and read the lock's state; the live server runs
in its own threads.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
]
IN_CI = os.environ.get("CI", "").lower() == "true"
PASSWORD = "correct horse battery"  # tests/conftest.py's users
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}


def _browser_missing(reason: str) -> None:
    if IN_CI:
        pytest.fail(f"{reason} (CI=true: the browser tests must run; .ci/run installs chromium)")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def browser():
    """One Chromium per test module: Playwright's loop runs in the main thread only while
    browser tests run, not during the rest of the suite."""
    if not Path(CHROMIUM).exists():
        _browser_missing(
            f"Chromium not found at {CHROMIUM}: `apt-get install -y chromium` to run the browser tests"
        )
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:  # pragma: no cover - requirements-dev.txt has it
        _browser_missing("playwright is not installed: pip install -r requirements-dev.txt")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@dataclass
class PageWatch:
    """What went wrong on a page: console errors, failed requests, HTTP error responses.
    Responses with a status in `allowed` (the expected 409s) and Chromium's console line
    about them are not problems."""

    allowed: set[int] = field(default_factory=set)
    problems: list[str] = field(default_factory=list)

    def attach(self, page) -> None:
        page.on("console", self._console)
        page.on("pageerror", lambda exc: self.problems.append(f"page error: {exc}"))
        page.on("requestfailed", self._failed)
        page.on("response", self._response)

    def _console(self, msg) -> None:
        if msg.type != "error":
            return
        m = re.search(r"status of (\d{3})", msg.text)
        if m and int(m.group(1)) in self.allowed:
            return
        self.problems.append(f"console error: {msg.text} ({msg.location.get('url', '')})")

    def _failed(self, request) -> None:
        # The browser cancels what is still loading when the page navigates or closes (a
        # banner poll, the favicon): that is not the server failing.
        if request.failure == "net::ERR_ABORTED":
            return
        self.problems.append(f"request failed: {request.method} {request.url} {request.failure}")

    def _response(self, response) -> None:
        if response.status >= 400 and response.status not in self.allowed:
            self.problems.append(f"HTTP {response.status}: {response.request.method} {response.url}")

    def assert_clean(self) -> None:
        assert self.problems == [], "\n".join(self.problems)


@pytest.fixture
def open_page(browser, live_server):
    """open_page(path="/", viewport=DESKTOP, context=None) -> (page, watch): a new tab,
    watched for errors. Pass `context` to open a second tab in the same session. Every
    watch is asserted clean at the end of the test (add codes to watch.allowed)."""
    contexts, watches = [], []

    def open_(path: str = "/", *, viewport=DESKTOP, context=None):
        if context is None:
            context = browser.new_context(viewport=viewport, base_url=live_server.url)
            contexts.append(context)
        page = context.new_page()
        watch = PageWatch()
        watch.attach(page)
        watches.append(watch)
        page.goto(path)
        return page, watch

    yield open_
    for context in contexts:
        context.close()
    for watch in watches:
        watch.assert_clean()


def log_in(page, username: str, password: str = PASSWORD) -> None:
    """Log in through the real login page (the page is on /login/ or redirected there)."""
    if "/login/" not in page.url:
        page.goto("/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name=re.compile("log in", re.I)).click()
    page.wait_for_url(lambda url: "/login/" not in url)


@pytest.fixture
def operator_page(open_page, operator):
    """operator_page(path, viewport=DESKTOP) -> (page, watch): a tab logged in as the
    operator (both job permissions) through the login page, then at `path`. The page's
    context is page.context: open a second tab there with open_page(path, context=...)."""

    def open_(path: str = "/", *, viewport=DESKTOP):
        page, watch = open_page("/login/", viewport=viewport)
        log_in(page, operator.username)
        page.goto(path)
        return page, watch

    return open_
