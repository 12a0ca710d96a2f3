"""Expiry Notifications in Chromium: two tabs on one page while a run with "Pick emails to
fail" holds the lock; the banner shows progress, the result lists the failed send and the
sent ones, and afterwards the table shows what is still due (the failed one)."""

from datetime import timedelta

import pytest
from playwright.sync_api import expect

from jobs.models import NotificationJobRun
from jobs.status import live_run
from requests_app.models import ExpiryNotification

pytestmark = pytest.mark.browser

PAGE = "/jobs/expiry-notifications/"


def test_two_tabs_pick_one_email_to_fail(operator_page, open_page, make_request, settings, mailoutbox):
    settings.JOB_POLL_SECONDS = 1  # a faster poll keeps the test short (the revoke test uses the default)
    settings.NOTIFY_SEND_DELAY_SECONDS = 3
    due = [make_request(expires_in=timedelta(days=d, hours=1)) for d in (29, 20, 15)]
    make_request(expires_in=timedelta(days=60))  # not due
    emails = [r.requestor_email for r in due]
    failing = emails[1]

    a, _ = operator_page(PAGE)
    b, _ = open_page(PAGE, context=a.context)
    b.evaluate("window.sameDocument = true")  # gone if tab B reloads
    a_button, b_button = a.locator("#notify-run-button"), b.locator("#notify-run-button")
    expect(b_button).to_have_text("Trigger Notification to All (3)")
    expect(b.locator("#notifications-panel tbody tr")).to_have_count(3)

    a.get_by_label("Pick emails to fail").check()
    a.locator("#notifications-panel tbody tr", has_text=failing).get_by_role("checkbox").check()
    a_button.click()
    expect(a_button).to_be_disabled()  # its own run is going

    banner = b.locator("#job-banner-notifications .job-banner")
    expect(banner).to_be_visible(timeout=4000)
    active = live_run(job=NotificationJobRun)
    expect(banner).to_contain_text(f"Started by {active.started_by}")
    expect(banner.locator("time")).to_have_attribute("datetime", active.started_at.isoformat())
    expect(banner.locator(".job-progress")).to_contain_text("of 3")  # progress, once the total is known
    expect(banner.locator("progress")).to_have_attribute("max", "3")
    expect(b_button).to_be_disabled()

    # The run ends: tab B's banner goes; what is still due is the failed one.
    expect(banner).to_be_hidden(timeout=(3 + 1 + 3) * 1000)
    rows = b.locator("#notifications-panel tbody tr")
    expect(rows).to_have_count(1)
    expect(rows).to_contain_text(failing)
    expect(rows).to_contain_text("30-Day Reminder")
    expect(b_button).to_have_text("Trigger Notification to All (1)")
    expect(b_button).to_be_enabled()
    assert b.evaluate("window.sameDocument") is True

    # Tab A's result: the picked email failed, the others were sent.
    result = a.locator("#notifications-result")
    expect(result).to_contain_text("Sent 2 · failed 1")
    failed_table = result.locator("h2:has-text('Failed') + .table-wrap")
    expect(failed_table).to_contain_text(failing)
    expect(failed_table).to_contain_text("Simulated failure")
    sent_table = result.locator("h2:has-text('Sent') + .table-wrap")
    for email in (emails[0], emails[2]):
        expect(sent_table).to_contain_text(email)
    expect(sent_table).not_to_contain_text(failing)
    expect(a_button).to_have_text("Trigger Notification to All (1)")

    assert sorted(ExpiryNotification.objects.values_list("sent_to", flat=True)) == sorted(
        [emails[0], emails[2]]
    )
    assert sorted(m.to[0] for m in mailoutbox) == sorted([emails[0], emails[2]])
