"""The schedule box on each job page (templates/jobs/_schedule.html): next run, last
successful run, last run's result."""

import re
from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse

from jobs.notifications import notifications_send
from jobs.revoke import revoke_expired_run

pytestmark = pytest.mark.django_db(transaction=True)


def schedule_box(html: str, job: str) -> str:
    match = re.search(rf'<section class="card job-schedule" id="schedule-{job}".*?</section>', html, re.S)
    assert match, f"the {job} page has its schedule box"
    return re.sub(r"\s+", " ", match.group(0))


def test_revoke_page_shows_its_schedule_next_run_and_last_result(operator_client, settings):
    settings.REVOKE_SCHEDULE, settings.SCHEDULE_TIME_ZONE = "*/15 * * * *", "UTC"
    box = schedule_box(operator_client.get(reverse("jobs:revoke_expired")).content.decode(), "revoke")
    assert "<code>*/15 * * * *</code> (UTC)" in box
    assert re.search(
        r"Next run</dt> <dd><time datetime=\"[^\"]+\">\d{4}-\d\d-\d\d \d\d:(00|15|30|45):00 UTC</time>", box
    )
    assert 'Last successful run</dt> <dd><span class="muted">Never</span>' in box
    assert "No runs yet" in box

    revoke_expired_run(triggered_by="test")
    box = schedule_box(operator_client.get(reverse("jobs:revoke_expired")).content.decode(), "revoke")
    assert re.search(r"Last successful run</dt> <dd><time", box)
    assert '<span class="schedule-result">Completed</span>' in box


def test_notifications_page_shows_a_run_with_failed_sends_and_no_schedule(
    operator_client, settings, make_request
):
    settings.NOTIFY_SCHEDULE = ""
    make_request(expires_in=timedelta(days=20), requestor_email="bounce@example.com")
    notifications_send(triggered_by="test", fail_emails=["bounce@example.com"])
    box = schedule_box(
        operator_client.get(reverse("jobs:expiry_notifications")).content.decode(), "notifications"
    )
    assert "Not scheduled" in box
    assert '<span class="schedule-result">Completed with failures</span>' in box


def test_deliveries_page_shows_the_delivery_schedule(client, user, settings):
    user.user_permissions.add(Permission.objects.get(codename="run_delivery_job"))
    client.force_login(user)
    settings.DELIVER_SCHEDULE = "@every 1m"
    box = schedule_box(client.get("/webhooks/deliveries/").content.decode(), "deliveries")
    assert "<code>@every 1m</code> (UTC)" in box
    settings.DELIVER_SCHEDULE = ""
    assert "Not scheduled" in schedule_box(client.get("/webhooks/deliveries/").content.decode(), "deliveries")
