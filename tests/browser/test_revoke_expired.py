"""Revoke Expired in Chromium: two tabs on one page while a run holds the lock, and the
409 a click gets while a run started by another process (the scheduled command) holds it."""

import subprocess
import time
from datetime import timedelta

import pytest
from playwright.sync_api import expect

from jobs.models import RevokeExpiredJobRun
from jobs.status import live_run
from tests.conftest import PYTHON, ROOT

pytestmark = pytest.mark.browser

PAGE = "/jobs/revoke-expired/"


def wait_for_lock(*, job, seconds: float = 20.0):
    """The run holding the job's lock once some process holds it (a real process starting up)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        run = live_run(job=job)
        if run is not None:
            return run
        time.sleep(0.05)
    raise AssertionError(f"no {job.job_name} run took the lock within {seconds} s")


def test_second_tab_sees_the_banner_and_refreshes_itself_when_the_run_ends(
    operator_page, open_page, make_request, settings
):
    assert settings.JOB_POLL_SECONDS == 3  # the default: "within 4 seconds" is one poll and a margin
    settings.REVOKE_DELAY_SECONDS = 6  # longer than a poll, so tab B catches the run
    # The default status cache (the suite turns it off): the run is this server's own, so
    # starting and ending it drop the cache and tab B's next poll sees the change.
    settings.LOCK_STATUS_CACHE_SECONDS = 1
    for days in (1, 2, 3):
        make_request(expires_in=-timedelta(days=days))
    make_request(expires_in=timedelta(days=10))  # not expired: stays

    a, _ = operator_page(PAGE)
    b, _ = open_page(PAGE, context=a.context)
    b.evaluate("window.sameDocument = true")  # gone if tab B reloads
    a_button, b_button = a.locator("#revoke-run-button"), b.locator("#revoke-run-button")
    expect(b_button).to_have_text("Run Revoke Job (3)")
    expect(b_button).to_be_enabled()
    expect(b.locator("#revoke-panel tbody tr")).to_have_count(3)

    a_button.click()
    expect(a_button).to_be_disabled()  # its own run is going

    banner = b.locator("#job-banner-revoke .job-banner")
    expect(banner).to_be_visible(timeout=4000)
    active = live_run(job=RevokeExpiredJobRun)
    started_at = active.started_at
    expect(banner).to_contain_text(f"Job is currently running — Started by {active.started_by}")
    expect(banner.locator("time")).to_have_attribute("datetime", active.started_at.isoformat())
    expect(banner.locator("time")).to_contain_text(started_at.strftime("%Y-%m-%d %H:%M:%S"))
    expect(banner).to_contain_text(
        "The button is disabled. This page will auto-refresh when the job completes."
    )
    assert banner.evaluate("e => getComputedStyle(e).animationName") == "pulse-border"  # it pulses
    expect(b_button).to_be_disabled()
    expect(a_button).to_be_disabled()

    # The run ends: tab B's banner goes, its table empties and its button shows (0), no reload.
    expect(banner).to_be_hidden(timeout=(6 + 3 + 2) * 1000)
    expect(b.locator("#revoke-panel tbody")).to_have_text("No expired requests found to revoke.")
    expect(b_button).to_have_text("Run Revoke Job (0)")
    expect(b_button).to_be_disabled()  # nothing to revoke
    assert b.evaluate("window.sameDocument") is True

    # Tab A shows its result, and its panel refreshed too.
    result = a.locator("#revoke-result")
    expect(result).to_contain_text("Revoked 3 expired access request")
    expect(result).to_contain_text("Revoked: 3")
    expect(result.locator(f'a[href="/jobs/runs/{active.job_id}/"]')).to_be_visible()
    expect(a_button).to_have_text("Run Revoke Job (0)")
    expect(a.locator("#job-banner-revoke .job-banner")).to_be_hidden()


def test_click_while_the_scheduled_command_holds_the_lock_shows_the_conflict(
    operator_page, make_request, child_env, settings
):
    settings.JOB_POLL_SECONDS = 60  # the page must not see the lock before the click
    make_request(expires_in=-timedelta(days=1))
    page, watch = operator_page(PAGE)
    watch.allowed.add(409)
    button = page.locator("#revoke-run-button")
    expect(button).to_be_enabled()

    command = subprocess.Popen(
        [PYTHON, "manage.py", "run_revoke"],
        cwd=ROOT,
        env={**child_env, "REVOKE_DELAY_SECONDS": "5", "SERVER_NAME": "other-server"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        active = wait_for_lock(job=RevokeExpiredJobRun)
        assert active.started_by == f"other-server:{command.pid}"
        button.click()

        conflict = page.locator("#revoke-result .result.conflict")
        expect(conflict).to_contain_text("The revoke job is already running.")
        expect(conflict).to_contain_text(f"Started by other-server:{command.pid}")
        expect(conflict).to_contain_text(active.started_at.strftime("%Y-%m-%d %H:%M:%S"))
        expect(conflict).to_contain_text("for run_revoke")
        expect(conflict.locator(f'a[href="/jobs/runs/{active.job_id}/"]')).to_be_visible()
        expect(conflict).to_contain_text("Nothing was run.")
        # the 409 refreshes the panel too: the button waits for the other run
        expect(button).to_be_disabled()
        expect(page.locator("#revoke-disabled-reason")).to_contain_text("in progress")
    finally:
        out, err = command.communicate(timeout=60)
    assert command.returncode == 0, err
    assert "Revoked: 1" in out
