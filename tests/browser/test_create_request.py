"""Create Request in Chromium: bad input gets inline errors and saves nothing; a valid
5-day request shows on All Requests and, being due its 30-Day Reminder, on Expiry
Notifications."""

import re
from datetime import date, timedelta

import pytest
from playwright.sync_api import expect

from requests_app.models import UserAccessRequest

pytestmark = pytest.mark.browser


def test_invalid_email_and_past_custom_date_show_inline_errors(operator_page):
    page, _ = operator_page("/requests/new/")
    custom_date = page.locator("#id_custom_date")
    expect(custom_date).to_be_hidden()  # shown only for "Custom date"
    page.get_by_label("Requestor name").fill("Bea Quinn")
    page.get_by_label("Requestor email").fill("bea.quinn@")
    page.get_by_label("Resource").fill("Payroll export")
    page.get_by_label("Duration").select_option(label="Custom date")
    expect(custom_date).to_be_visible()
    custom_date.fill((date.today() - timedelta(days=3)).isoformat())
    page.get_by_role("button", name="Create request").click()

    expect(page.get_by_role("alert")).to_contain_text("Nothing was saved")
    expect(page.locator("#id_requestor_email_error")).to_contain_text("valid email")
    expect(page.locator("#id_custom_date_error")).to_contain_text("must be in the future")
    expect(custom_date).to_be_visible()
    # what was typed is kept, nothing was saved
    expect(page.get_by_label("Requestor name")).to_have_value("Bea Quinn")
    assert not UserAccessRequest.objects.filter(requestor_name="Bea Quinn").exists()


def test_valid_five_day_request_shows_on_all_requests_and_expiry_notifications(operator_page):
    page, _ = operator_page("/requests/new/")
    page.get_by_label("Requestor name").fill("Bea Quinn")
    page.get_by_label("Requestor email").fill("bea.quinn@example.com")
    page.get_by_label("Resource").fill("Payroll export")
    page.get_by_label("Justification").fill("Year-end reconciliation.")
    page.get_by_label("Duration").select_option(label="5 days")
    page.get_by_role("button", name="Create request").click()

    expect(page).to_have_url(re.compile(r"^http://[^/]+/$"))  # All Requests
    created = UserAccessRequest.objects.get(requestor_email="bea.quinn@example.com")
    expect(page.get_by_role("status")).to_contain_text(f"Request {created.request_id} created")
    row = page.locator("table tbody tr", has_text=created.request_id)
    expect(row).to_contain_text("bea.quinn@example.com")
    expect(row).to_contain_text("Payroll export")
    expect(row).to_contain_text("Active")

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Expiry Notifications").click()
    row = page.locator("#notifications-panel tbody tr", has_text=created.request_id)
    expect(row).to_contain_text("bea.quinn@example.com")
    expect(row).to_contain_text("30-Day Reminder")
    expect(page.locator("#notify-run-button")).to_have_text("Trigger Notification to All (1)")
    expect(page.locator("#notify-run-button")).to_be_enabled()
