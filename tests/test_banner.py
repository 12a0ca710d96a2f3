"""The polling job banner: GET /jobs/<job>/banner/ and the partial it renders
(templates/jobs/_banner.html), as included in the job pages."""

import json
import re
from pathlib import Path

import pytest
from django.urls import reverse

from jobs.lock import lock_acquire
from jobs.models import NotificationJobRun, RevokeExpiredJobRun
from jobs.status import live_run
from jobs.views import banner_context
from tests.factories import lock_held


def _url(job: str, locked: str | None = None) -> str:
    url = reverse("jobs:banner", args=[job])
    return f"{url}?locked={locked}" if locked is not None else url


@pytest.fixture
def revoke_running(db):
    with lock_held(RevokeExpiredJobRun, triggered_by="olivia", started_by="web-1:4242") as lock:
        yield lock


def test_unlocked_banner_shows_nothing_but_keeps_polling(user_client):
    response = user_client.get(_url("revoke", "0"))
    assert response.status_code == 200
    html = response.content.decode()
    assert 'id="job-banner-revoke"' in html
    assert f'hx-get="{_url("revoke", "0")}"' in html
    assert 'hx-trigger="every 3s, job-changed from:body"' in html
    assert 'hx-swap="outerHTML"' in html
    assert 'aria-live="polite"' in html
    assert "Job is currently running" not in html
    assert 'class="job-banner"' not in html
    assert "HX-Trigger" not in response.headers


def test_locked_banner_says_who_runs_the_job_since_when(user_client, revoke_running):
    response = user_client.get(_url("revoke", "1"))
    assert response.status_code == 200
    html = response.content.decode()
    assert 'class="job-banner"' in html
    assert "Job is currently running — Started by web-1:4242 at" in html
    assert "The button is disabled. This page will auto-refresh when the job completes." in html
    assert "Triggered by olivia." in html
    assert f'hx-get="{_url("revoke", "1")}"' in html  # it now polls for the end of the run
    assert f'data-job-id="{revoke_running.job_id}"' in html
    assert "HX-Trigger" not in response.headers
    assert "<progress" not in html  # total not known yet


def test_locked_banner_shows_progress_once_the_total_is_known(user_client, revoke_running):
    revoke_running.progress(processed=17, total=40)
    html = user_client.get(_url("revoke", "1")).content.decode()
    assert "17 of 40" in html
    assert '<progress max="40" value="17">' in html


@pytest.mark.parametrize(
    "running, shown, changed",
    [(True, "0", True), (True, "1", False), (False, "1", True), (False, "0", False)],
)
def test_a_change_of_lock_state_tells_the_page_to_refresh(user_client, running, shown, changed):
    lock = lock_acquire(job=NotificationJobRun, triggered_by="olivia") if running else None
    response = user_client.get(_url("notifications", shown))
    assert response.status_code == 200
    assert ("job-changed" in json.loads(response.headers.get("HX-Trigger", "{}"))) == changed
    if lock:
        lock.release(status="Completed")


@pytest.mark.parametrize("shown", [None, "", "yes", "2", "0' onload='x"])
def test_a_missing_or_odd_locked_value_is_ignored(user_client, revoke_running, shown):
    response = user_client.get(_url("revoke", shown))
    assert response.status_code == 200
    assert "HX-Trigger" not in response.headers
    assert "Job is currently running" in response.content.decode()


def test_each_job_has_its_own_banner(user_client, revoke_running):
    html = user_client.get(_url("notifications", "0")).content.decode()
    assert 'id="job-banner-notifications"' in html
    assert "Job is currently running" not in html


def test_anonymous_is_sent_to_login(client, db):
    response = client.get(_url("revoke", "0"))
    assert response.status_code == 302
    assert response.url.startswith(reverse("login"))


@pytest.mark.parametrize("job", ["unknown", "Revoke", "history"])
def test_unknown_job_is_404(user_client, job):
    assert user_client.get(_url(job, "0")).status_code == 404


def test_banner_is_read_only(user_client):
    assert user_client.post(_url("revoke", "0")).status_code == 405


def test_poll_interval_comes_from_the_setting(user_client, settings):
    settings.JOB_POLL_SECONDS = 7
    assert (
        'hx-trigger="every 7s, job-changed from:body"'
        in user_client.get(_url("revoke", "0")).content.decode()
    )


def test_banner_context_for_a_job_page(revoke_running):
    holder = live_run(job=RevokeExpiredJobRun)
    context = banner_context(RevokeExpiredJobRun, holder=holder)
    assert set(context) == {"banner"}
    banner = context["banner"]
    assert (banner["job"], banner["locked"], banner["poll_seconds"]) == ("revoke", True, 3)
    assert banner["active"].job_id == revoke_running.job_id
    assert banner_context(NotificationJobRun, holder=None)["banner"]["locked"] is False


@pytest.mark.parametrize(
    "page, job", [("jobs:revoke_expired", "revoke"), ("jobs:expiry_notifications", "notifications")]
)
def test_job_pages_include_their_polling_banner(operator_client, page, job):
    html = operator_client.get(reverse(page)).content.decode()
    assert f'id="job-banner-{job}"' in html
    assert f'hx-get="{_url(job, "0")}"' in html


def test_banner_border_pulses_unless_reduced_motion_is_asked_for():
    from django.contrib.staticfiles import finders

    css = Path(finders.find("css/app.css")).read_text()
    assert "animation: pulse-border" in css
    assert "@keyframes pulse-border" in css
    assert "prefers-reduced-motion" in css


def test_the_live_region_stays_and_only_its_polling_child_is_swapped(user_client, revoke_running):
    """Screen readers announce changes inside an aria-live region that stays in the page: the
    poll replaces the child (hx-select of its own id), never the region."""
    html = user_client.get(_url("revoke", "1")).content.decode()
    region = re.search(r'<div id="job-banner-revoke"[^>]*>', html).group(0)
    assert 'aria-live="polite"' in region and "hx-get" not in region
    poll = re.search(r'<div id="job-banner-revoke-poll"[^>]*>', html[html.index(region) :]).group(0)
    assert 'hx-select="#job-banner-revoke-poll"' in poll and 'hx-swap="outerHTML"' in poll
    assert html.index(poll) < html.index('class="job-banner"')
