"""A request's page in Chromium: open it from All Requests, extend it, revoke it (after the
confirmation), and see both in its history."""

import re
from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import expect

from accessmgr.db import db_now
from requests_app.models import RevokedAccess

from .conftest import PASSWORD, log_in

pytestmark = pytest.mark.browser


def test_open_extend_revoke_and_see_the_history(open_page, make_request):
    User.objects.create_user("sam", "sam@example.com", PASSWORD, is_staff=True)
    r = make_request(expires_in=timedelta(days=5, hours=1), resource_name="Payroll export")
    page, _ = open_page("/login/")
    log_in(page, "sam")

    page.get_by_role("link", name=r.request_id).click()
    expect(page).to_have_url(re.compile(rf"/requests/{r.request_id}/$"))
    expect(page.locator("[data-expiry]")).to_contain_text("(in 5 days)")

    page.get_by_label("Duration").select_option(label="90 days")
    page.locator("#extend-h + form").get_by_label("Reason").fill("Audit runs another quarter")
    page.get_by_role("button", name="Extend").click()
    expect(page.get_by_role("status")).to_contain_text(f"Request {r.request_id} extended.")
    expect(page.locator("[data-expiry]")).to_contain_text(re.compile(r"\(in (89|90) days\)"))
    expect(page.locator("#history")).to_contain_text("Audit runs another quarter")

    confirm = page.get_by_role("button", name=f"Confirm: revoke {r.request_id}")
    expect(confirm).to_be_hidden()  # behind "Revoke now…"
    page.get_by_text("Revoke now…").click()
    page.locator("details form").get_by_label("Reason").fill("Left the team")
    confirm.click()
    expect(page.get_by_role("status")).to_contain_text(f"Request {r.request_id} revoked.")
    expect(page.locator("h1 .badge")).to_have_text("Revoked")
    expect(page.locator("[data-revoked]")).to_contain_text("by sam")
    expect(page.get_by_role("button", name="Extend")).to_have_count(0)
    history = page.locator("#history tbody tr")
    expect(history).to_have_count(2)
    expect(history.nth(0)).to_contain_text("Extended")
    expect(history.nth(1)).to_contain_text("Revoked")
    expect(history.nth(1)).to_contain_text("Left the team")
    row = RevokedAccess.objects.get(request_id=r.request_id)
    assert row.revoked_by == "sam" and abs(row.revoked_dt - db_now()) < timedelta(minutes=1)
