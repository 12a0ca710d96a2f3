"""Both job pages in Chromium, as a keyboard user and a person with the Back button would use
them: focus lands on a run's result, Back shows the whole page, and the page drops what a
finished run made stale (the "already running" card, the yellow banner beside a result)."""

import re
from datetime import timedelta

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

REVOKE = "/jobs/revoke-expired/"
NOTIFY = "/jobs/expiry-notifications/"


def test_back_after_a_job_run_shows_the_full_page(operator_page, make_request):
    """The run's job-changed refresh fetches the page URL as a fragment (HTMX); Back to that
    URL must get the page from the browser's cache, not the fragment (Vary: HX-Request)."""
    make_request(expires_in=-timedelta(days=1))
    page, _ = operator_page(REVOKE)
    with page.expect_response(lambda r: r.url.endswith(REVOKE) and r.request.headers.get("hx-request")):
        page.locator("#revoke-run-button").click()
    expect(page.locator("#revoke-result")).to_contain_text("Revoked: 1")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="All Requests").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("All requests")

    page.go_back()
    expect(page).to_have_url(re.compile(re.escape(REVOKE) + "$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Revoke Expired Access")
    expect(page.get_by_role("navigation", name="Main")).to_be_visible()
    assert page.evaluate("getComputedStyle(document.querySelector('.topbar')).display") == "flex"  # styled
    expect(page.locator("#revoke-run-button")).to_have_text("Run Revoke Job (0)")
