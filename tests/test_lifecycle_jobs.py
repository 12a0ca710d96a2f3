"""The jobs' side of the access lifecycle: reminders are for an expiry (an extension
re-arms them), the revoke job's audit events, and the "Access Ended" email sent once per
revocation by the notification job, retried after a failed send."""

import smtplib
from datetime import timedelta

import pytest
from django.core import mail
from django.core.mail.backends.locmem import EmailBackend as LocmemBackend
from django.test import override_settings

import jobs.notifications
from accessmgr.db import db_now
from jobs.api import notification_result_json
from jobs.notifications import ACCESS_ENDED, notifications_send, pending_notifications
from jobs.revoke import revoke_expired_run
from jobs.runner import JobFailed
from requests_app.models import (
    REVOKED_BY_JOB,
    AccessEvent,
    ExpiryNotification,
    RevokedAccess,
    UserAccessRequest,
)
from requests_app.services import access_request_extend, access_request_revoke


def _run_at(monkeypatch, now):
    """One notification run as if the database clock said `now` (the decision's clock)."""
    monkeypatch.setattr(jobs.notifications, "db_now", lambda: now)
    return notifications_send(triggered_by="t")


def _types(request_id):
    return list(
        ExpiryNotification.objects.filter(request_id=request_id)
        .order_by("id")
        .values_list("notification_type", "expires_on")
    )


@pytest.mark.django_db(transaction=True)
def test_an_extension_re_arms_both_reminders_for_the_new_date_and_never_twice(monkeypatch, make_request):
    r = make_request(expires_in=timedelta(days=5))
    now = db_now()
    for _ in range(3):  # 30-Day, then 7-Day, then nothing more
        _run_at(monkeypatch, now)
    first = r.expires_on
    assert _types(r.request_id) == [("30-Day Reminder", first), ("7-Day Reminder", first)]

    new = access_request_extend(
        request_id=r.request_id, duration="90", reason="x", extended_by="a"
    ).expires_on
    assert not [p for p in pending_notifications(now=now) if p.request_id == r.request_id]  # 90 days away
    for days_later in (65, 65, 85, 85, 86):  # 25 days left twice, then 5 left three times
        _run_at(monkeypatch, now + timedelta(days=days_later))
    assert _types(r.request_id) == [
        ("30-Day Reminder", first),
        ("7-Day Reminder", first),
        ("30-Day Reminder", new),
        ("7-Day Reminder", new),
    ]
    assert len(mail.outbox) == 4
    page_url = f"http://localhost:8000/requests/{r.request_id}/"
    assert all(page_url in m.body for m in mail.outbox)
    sent_events = AccessEvent.objects.filter(request_id=r.request_id, event_type="Reminder Sent")
    assert sent_events.count() == 4 and all(e.job_id for e in sent_events)


@pytest.mark.django_db(transaction=True)
def test_the_revoke_job_writes_one_revoked_event_per_request_it_revoked(make_request, settings):
    settings.REVOKE_CHUNK_SIZE = 2
    expired = [make_request(expires_in=-timedelta(hours=1)) for _ in range(5)]
    by_hand = expired[0]
    access_request_revoke(request_id=by_hand.request_id, reason="Left", revoked_by="alice")

    result = revoke_expired_run(triggered_by="t")

    assert result.revoked_count == 4
    events = AccessEvent.objects.filter(event_type="Revoked", job_id=result.job_id)
    assert sorted(e.request_id for e in events) == sorted(r.request_id for r in expired[1:])
    for e in events:
        row = RevokedAccess.objects.get(request_id=e.request_id)
        assert (e.actor, e.reason, e.occurred_at) == (REVOKED_BY_JOB, "Expired", row.revoked_dt)
    assert AccessEvent.objects.filter(request_id=by_hand.request_id, event_type="Revoked").count() == 1


@pytest.mark.django_db(transaction=True)
def test_a_failing_audit_insert_rolls_the_chunk_back(make_request, table_away):
    make_request(expires_in=-timedelta(hours=1))
    table_away(AccessEvent)  # the audit insert fails in the database, whichever statement writes it

    with pytest.raises(JobFailed):
        revoke_expired_run(triggered_by="t")
    assert not RevokedAccess.objects.exists()
    assert not UserAccessRequest.objects.filter(status="Revoked").exists()


class FailFirstBackend(LocmemBackend):
    """An SMTP server that refuses the first message to each address (451: a dropped
    connection would be re-opened and the send tried again at once), then accepts."""

    refused: set = set()

    def send_messages(self, messages):
        for message in messages:
            if message.to[0] not in self.refused:
                self.refused.add(message.to[0])
                raise smtplib.SMTPDataError(451, b"try again later")
        return super().send_messages(messages)


def _access_ended(request_id):
    return ExpiryNotification.objects.filter(request_id=request_id, notification_type=ACCESS_ENDED)


@pytest.mark.django_db(transaction=True)
def test_access_ended_email_goes_out_once_per_revocation_also_after_a_failed_send(make_request):
    by_hand = make_request(expires_in=timedelta(days=60))
    expired = make_request(expires_in=-timedelta(hours=1))
    access_request_revoke(request_id=by_hand.request_id, reason="Left the team", revoked_by="alice")
    revoke_expired_run(triggered_by="t")
    FailFirstBackend.refused = set()

    with override_settings(EMAIL_BACKEND="tests.test_lifecycle_jobs.FailFirstBackend"):
        first = notification_result_json(notifications_send(triggered_by="t"))
        assert (first["notifiedCount"], first["failedCount"]) == (0, 2)
        assert not ExpiryNotification.objects.exists()  # nothing recorded for a failed send
        second = notification_result_json(notifications_send(triggered_by="t"))
        assert (second["notifiedCount"], second["failedCount"]) == (2, 0)
        for _ in range(2):
            assert len(notifications_send(triggered_by="t").sent) == 0

    assert len(mail.outbox) == 2
    hand, job = sorted(mail.outbox, key=lambda m: m.to[0] != by_hand.requestor_email)
    assert hand.to == [by_hand.requestor_email] and job.to == [expired.requestor_email]
    assert hand.subject == f"Your access to {by_hand.resource_name} has ended"
    assert 'revoked by alice, who gave this reason: "Left the team"' in hand.body
    assert "It expired on" in job.body and "revoked automatically" in job.body
    for m in (hand, job):
        assert "ask for it again: http://localhost:8000/requests/new/" in m.body
    for r in (by_hand, expired):
        assert _access_ended(r.request_id).count() == 1
        assert (
            AccessEvent.objects.filter(request_id=r.request_id, event_type="Access Ended Sent").count() == 1
        )


@pytest.mark.django_db(transaction=True)
def test_revocations_from_before_the_audit_trail_get_no_access_ended_email(make_request):
    old = make_request(status="Revoked")
    RevokedAccess.objects.create(request=old, revoked_dt=db_now(), revoked_by="legacy")
    assert len(notifications_send(triggered_by="t").sent) == 0
    assert not mail.outbox
