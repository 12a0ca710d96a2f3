"""Notices in doubt (claims left by runs that ended): listed in the admin, released there by an
operator with the delete permission (then the next run sends them again), counted on /metrics."""

from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission, User
from django.core import mail
from django.urls import reverse

from accessmgr.db import db_now
from jobs.models import NotificationClaim, NotificationJobRun
from jobs.notifications import claims_in_doubt, notifications_send
from requests_app.models import ExpiryNotification
from tests.factories import request_make, run_make
from tests.metrics_scrape import scrape, value

CHANGELIST = reverse("admin:jobs_notificationclaim_changelist")
DUE_IN = timedelta(days=10)  # due its 30-Day Reminder


def claim_make(req, *, job_id: str) -> NotificationClaim:
    return NotificationClaim.objects.create(
        request=req,
        notification_type="30-Day Reminder",
        claimed_at=db_now(),
        sent_to=req.requestor_email,
        job_id=job_id,
        expires_on=req.expires_on,
        message_id=f"<{req.request_id}@example.com>",
    )


@pytest.fixture
def claims(db):
    """One claim of a run that failed (in doubt), one of the run in progress (in flight)."""
    run_make(NotificationJobRun, job_id="ended-run", status="Failed")
    run_make(NotificationJobRun, job_id="live-run", status="InProgress")
    doubtful = claim_make(request_make(expires_in=DUE_IN), job_id="ended-run")
    flying = claim_make(request_make(expires_in=DUE_IN), job_id="live-run")
    return doubtful, flying


def release(client, ids) -> object:
    return client.post(CHANGELIST, {"action": "release", "_selected_action": ids}, follow=True)


def test_only_the_claims_of_ended_runs_are_in_doubt(claims):
    doubtful, _flying = claims
    assert list(claims_in_doubt()) == [doubtful]


def test_a_superuser_releases_the_claims_in_doubt_and_keeps_those_in_flight(client, claims):
    doubtful, flying = claims
    client.force_login(User.objects.create_superuser("root", "root@example.com", "pw"))
    listed = client.get(CHANGELIST)
    assert listed.status_code == 200
    assert doubtful.request_id in listed.content.decode() and flying.request_id in listed.content.decode()

    response = release(client, [doubtful.pk, flying.pk])

    shown = [str(m) for m in response.context["messages"]]
    assert shown == [
        "1 released: the next notification run sends them again.",
        "1 left: their run is still in progress (the notice is being sent).",
    ]
    assert list(NotificationClaim.objects.all()) == [flying]


@pytest.mark.django_db(transaction=True)
def test_a_released_notice_is_sent_again_by_the_next_run_with_the_same_message_id(client):
    req = request_make(expires_in=DUE_IN)
    run_make(NotificationJobRun, job_id="ended-run", status="Failed")
    claim_make(req, job_id="ended-run")
    notifications_send(triggered_by="t")
    assert mail.outbox == []  # held in doubt (NOTIFY_IN_DOUBT=hold)

    client.force_login(User.objects.create_superuser("root", "root@example.com", "pw"))
    release(client, list(NotificationClaim.objects.values_list("pk", flat=True)))
    notifications_send(triggered_by="t")

    assert [m.to for m in mail.outbox] == [[req.requestor_email]]
    recorded = ExpiryNotification.objects.get(request_id=req.request_id)
    assert mail.outbox[0].extra_headers["Message-ID"] == recorded.message_id
    assert not NotificationClaim.objects.exists()


def test_staff_who_may_only_view_claims_cannot_release_them(client, claims):
    staff = User.objects.create_user("sam", "sam@example.com", "pw", is_staff=True)
    staff.user_permissions.add(Permission.objects.get(codename="view_notificationclaim"))
    client.force_login(staff)
    listed = client.get(CHANGELIST)
    assert listed.status_code == 200
    assert 'value="release"' not in listed.content.decode()

    release(client, [c.pk for c in claims])

    assert NotificationClaim.objects.count() == 2


def test_claims_cannot_be_added_edited_or_deleted_one_by_one(client, claims):
    client.force_login(User.objects.create_superuser("root", "root@example.com", "pw"))
    doubtful, _ = claims
    assert client.get(reverse("admin:jobs_notificationclaim_add")).status_code == 403
    assert 'value="delete_selected"' not in client.get(CHANGELIST).content.decode()
    client.post(
        reverse("admin:jobs_notificationclaim_change", args=[doubtful.pk]), {"sent_to": "x@example.com"}
    )
    assert NotificationClaim.objects.get(pk=doubtful.pk).sent_to == doubtful.sent_to
    assert client.post(reverse("admin:jobs_notificationclaim_delete", args=[doubtful.pk])).status_code == 403
    assert NotificationClaim.objects.filter(pk=doubtful.pk).exists()


def test_metrics_count_the_notices_in_doubt_not_those_in_flight(client, token, claims):
    assert value(scrape(client, token), "accessmgr_notices_in_doubt") == 1
