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
    expect(page.get_by_role("heading", level=1)).to_have_text("Revoke expired access")
    expect(page.get_by_role("navigation", name="Main")).to_be_visible()
    assert page.evaluate("getComputedStyle(document.querySelector('.topbar')).display") == "flex"  # styled
    expect(page.locator("#revoke-run-button")).to_have_text("Run Revoke Job (0)")


def tab_until(page, selector: str, *, limit: int = 40) -> list[str]:
    """Press Tab until `selector` has focus; what had focus on the way (tag#id or name)."""
    seen = []
    for _ in range(limit):
        page.keyboard.press("Tab")
        if page.evaluate("(s) => document.activeElement.matches(s)", selector):
            return seen
        seen.append(
            page.evaluate(
                "() => { const e = document.activeElement;"
                " return e.tagName.toLowerCase() + (e.id ? '#' + e.id : '') + (e.name ? '[' + e.name + ']' : ''); }"
            )
        )
    pytest.fail(f"{selector} not reached in {limit} Tabs: {seen}")


def test_keyboard_only_start_a_job_and_land_focus_on_its_result(operator_page, make_request):
    make_request(expires_in=-timedelta(days=1))
    page, _ = operator_page(REVOKE)
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Skip to content")).to_be_focused()
    page.keyboard.press("Enter")  # past the nav
    assert tab_until(page, "#revoke-run-button") == []  # the first stop in the page's content
    page.keyboard.press("Enter")
    result = page.locator("#revoke-result")
    expect(result).to_contain_text("Revoked: 1")
    expect(result).to_be_focused()


def test_the_emails_to_fail_come_before_the_trigger_button(operator_page, make_request):
    for days in (5, 20):
        make_request(expires_in=timedelta(days=days))
    page, _ = operator_page(NOTIFY)
    page.get_by_label("Normal").focus()
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowRight")  # radios move with the arrows: Pick emails to fail
    expect(page.get_by_label("Pick emails to fail")).to_be_checked()
    on_the_way = tab_until(page, "#notify-run-button")
    # each row also has its request link
    assert [stop for stop in on_the_way if stop != "a"] == ["input[failEmail]", "input[failEmail]"]


def test_the_already_running_card_goes_when_that_run_ends(operator_page, make_request, settings):
    from jobs.models import RevokeExpiredJobRun
    from tests.factories import lock_held

    settings.JOB_POLL_SECONDS = 60  # the page must not see the lock before the click
    make_request(expires_in=-timedelta(days=1))
    page, watch = operator_page(REVOKE)
    watch.allowed.add(409)
    with lock_held(RevokeExpiredJobRun, triggered_by="run_revoke", started_by="other-server:1"):
        settings.JOB_POLL_SECONDS = 1  # from the banner's next answer on
        page.locator("#revoke-run-button").click()
        card = page.locator("#revoke-result .result.conflict")
        expect(card).to_contain_text("The revoke job is already running.")
        expect(page.locator("#job-banner-revoke .job-banner")).to_be_visible()
        for _ in range(2):  # polls while the other run goes on keep the card
            with page.expect_response(lambda r: "/banner/" in r.url):
                pass
        expect(card).to_be_visible()
    expect(card).to_have_count(0)
    expect(page.locator("#job-banner-revoke .job-banner")).to_be_hidden()
    expect(page.locator("#revoke-run-button")).to_be_enabled()


def test_the_tab_that_ran_the_job_drops_the_banner_with_its_result(operator_page, make_request, settings):
    settings.JOB_POLL_SECONDS = 1
    settings.REVOKE_DELAY_SECONDS = 3
    make_request(expires_in=-timedelta(days=1))
    page, _ = operator_page(REVOKE)
    page.locator("#revoke-run-button").click()
    banner = page.locator("#job-banner-revoke .job-banner")
    expect(banner).to_be_visible()  # its own run, seen by its poll
    settings.JOB_POLL_SECONDS = 60  # from the banner's next answer on: only the result can clear it
    with page.expect_response(lambda r: "/banner/" in r.url):
        pass
    expect(page.locator("#revoke-result")).to_contain_text("Revoked: 1", timeout=10_000)
    expect(banner).to_be_hidden()
