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

import json
import os
import re
import shutil
import subprocess
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
    """open_page(path="/", viewport=DESKTOP, context=None, bypass_csp=False) -> (page, watch):
    a new tab, watched for errors. Pass `context` to open a second tab in the same session;
    bypass_csp lets the test inject a script (axe). Every watch is asserted clean at the end
    of the test (add codes to watch.allowed)."""
    contexts, watches = [], []

    def open_(path: str = "/", *, viewport=DESKTOP, context=None, bypass_csp: bool = False):
        if context is None:
            context = browser.new_context(viewport=viewport, base_url=live_server.url, bypass_csp=bypass_csp)
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
    """operator_page(path, viewport=DESKTOP, bypass_csp=False) -> (page, watch): a tab logged in as the
    operator (both job permissions) through the login page, then at `path`. The page's
    context is page.context: open a second tab there with open_page(path, context=...)."""

    def open_(path: str = "/", *, viewport=DESKTOP, bypass_csp: bool = False):
        page, watch = open_page("/login/", viewport=viewport, bypass_csp=bypass_csp)
        log_in(page, operator.username)
        page.goto(path)
        return page, watch

    return open_


# axe-core, the accessibility checker, from the npm registry: installed under var/npm on first
# use (never committed, never from a CDN) and injected into the page under test.
AXE_CORE_VERSION = "4.14.1"
AXE_DIR = Path(os.environ.get("VAR_DIR") or Path(__file__).resolve().parents[2] / "var") / "npm"


@pytest.fixture(scope="session")
def axe_script() -> Path:
    """The path of axe.min.js, installed with npm if it is missing or another version."""
    package = AXE_DIR / "node_modules" / "axe-core"
    installed = package / "package.json"
    if not installed.exists() or json.loads(installed.read_text())["version"] != AXE_CORE_VERSION:
        npm = shutil.which("npm")
        if npm is None:
            _browser_missing("npm not found: `apt-get install -y npm` to run the accessibility checks")
        AXE_DIR.mkdir(parents=True, exist_ok=True)
        done = subprocess.run(
            [
                npm,
                "install",
                "--prefix",
                str(AXE_DIR),
                "--no-audit",
                "--no-fund",
                f"axe-core@{AXE_CORE_VERSION}",
            ],
            capture_output=True,
            text=True,
            timeout=600,
        )
        if done.returncode != 0:
            pytest.fail(f"npm install axe-core@{AXE_CORE_VERSION} failed:\n{done.stderr}")
    return package / "axe.min.js"


def axe_violations(page, axe_script: Path, *, impacts=("serious", "critical")) -> list[str]:
    """Run axe-core on the page as it is now (the tab needs bypass_csp=True); one line per
    violation of those impacts, with the first nodes it names."""
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        page.add_script_tag(path=str(axe_script))
    results = page.evaluate("() => axe.run(document, {resultTypes: ['violations']})")
    return [
        f"{v['id']} ({v['impact']}): {v['help']} — "
        + "; ".join(
            " ".join(n["target"]) + (f" [{n['failureSummary']}]" if n.get("failureSummary") else "")
            for n in v["nodes"][:3]
        )
        for v in results["violations"]
        if v["impact"] in impacts
    ]
