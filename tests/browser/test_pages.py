"""Every page in Chromium: no console errors, no failed requests, and usable at 1280 px and
at 390 px: nothing overflows the page sideways (tables scroll inside their .table-wrap),
the nav and the page's main buttons are on screen."""

import re
from datetime import timedelta

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import DESKTOP, PHONE, log_in

pytestmark = pytest.mark.browser

# path, the page's heading, its main controls (CSS selectors)
PAGES = [
    ("/", "All requests", ["a.button.primary", "form.toolbar button[type=submit]"]),
    ("/my-access/", "My access", ["table"]),
    (
        "/requests/new/",
        "Create request",
        ["#id_requestor_email", "#id_duration", "form.request-form button.primary"],
    ),
    ("/requests/pending-expiry/", "Pending expiry", ["table"]),
    ("/jobs/revoke-expired/", "Revoke expired access", ["#revoke-run-button"]),
    ("/jobs/expiry-notifications/", "Expiry notifications", ["#notify-run-button", "#test-mode"]),
    ("/jobs/history/", "Job history", ["form.toolbar button[type=submit]"]),
    ("/webhooks/deliveries/", "Webhook deliveries", ["table"]),
]

NAV = [
    "All Requests",
    "My Access",
    "Create Request",
    "Pending Expiry",
    "Revoke Expired",
    "Expiry Notifications",
    "Job History",
    "Deliveries",
]


def assert_fits(page, width: int) -> None:
    """Nothing wider than the viewport, except inside a scrolling .table-wrap."""
    sizes = page.evaluate(
        "() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]"
    )
    scroll_width, client_width = sizes
    if scroll_width > client_width + 1:
        wide = page.evaluate(
            """(w) => [...document.querySelectorAll('body *')]
                 .filter(e => e.getBoundingClientRect().right > w + 1 && !e.closest('.table-wrap'))
                 .slice(0, 5).map(e => e.tagName + (e.id ? '#' + e.id : '') + '.' + e.className)""",
            client_width,
        )
        pytest.fail(
            f"{page.url} at {width}px: page is {scroll_width}px wide > {client_width}px; too wide: {wide}"
        )


def assert_on_screen(page, selector: str, width: int) -> None:
    loc = page.locator(selector).first
    expect(loc).to_be_visible()
    loc.scroll_into_view_if_needed()
    box = loc.bounding_box()
    assert box and box["x"] >= -1 and box["x"] + box["width"] <= width + 1, (
        f"{selector} on {page.url} at {width}px is off screen: {box}"
    )


@pytest.fixture
def some_rows(make_request):
    make_request(
        expires_in=-timedelta(days=2), resource_name="A rather long resource name for the narrow screen"
    )
    make_request(expires_in=timedelta(days=5))
    make_request(expires_in=timedelta(days=29))
    make_request(expires_in=timedelta(days=90), justification="Quarterly review " * 8)


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["1280px", "390px"])
def test_every_page_loads_cleanly_and_fits(operator_page, some_rows, viewport):
    width = viewport["width"]
    page, watch = operator_page("/", viewport=viewport)
    for path, heading, controls in PAGES:
        response = page.goto(path)
        assert response.status == 200, f"{path}: HTTP {response.status}"
        expect(page.get_by_role("heading", level=1)).to_have_text(heading)
        page.wait_for_load_state("networkidle")
        assert_fits(page, width)
        nav = page.get_by_role("navigation", name="Main")
        for name in NAV:
            assert_on_screen(page, f"nav.nav >> text='{name}'", width)
        expect(nav.get_by_role("link", name=NAV[[p[0] for p in PAGES].index(path)])).to_have_attribute(
            "aria-current", "page"
        )
        for selector in controls:
            assert_on_screen(page, selector, width)
        watch.assert_clean()


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["1280px", "390px"])
def test_login_page_loads_cleanly_and_fits(open_page, db, viewport):
    page, watch = open_page("/jobs/revoke-expired/", viewport=viewport)
    expect(page).to_have_url(re.compile(r"/login/\?next=/jobs/revoke-expired/$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Log in")
    assert_fits(page, viewport["width"])
    assert_on_screen(page, "button[type=submit].primary", viewport["width"])
    watch.assert_clean()


def test_an_expired_session_sends_a_polling_page_to_login_and_back(operator_page, operator, settings):
    """The banner polls every JOB_POLL_SECONDS: once the session is gone, the next poll
    takes the whole tab to the login page (not the login form inside the banner), and
    logging in returns to the page."""
    settings.JOB_POLL_SECONDS = 1
    page, watch = operator_page("/jobs/revoke-expired/")
    watch.allowed.add(401)  # the poll that finds the session gone
    page.context.clear_cookies()
    page.wait_for_url("**/login/?next=/jobs/revoke-expired/", timeout=5000)
    expect(page.locator("#job-banner-revoke")).to_have_count(0)
    log_in(page, operator.username)
    expect(page).to_have_url(re.compile(r"/jobs/revoke-expired/$"))
