"""The page per run (/jobs/runs/<jobId>/): what a run did, for every job, live while it runs."""

from datetime import timedelta

import pytest
from django.urls import reverse

from jobs.models import NotificationFailure, NotificationJobRun, RevokeExpiredJobRun
from jobs.notifications import notifications_send
from jobs.revoke import revoke_expired_run
from tests.factories import lock_held

pytestmark = pytest.mark.django_db(transaction=True)


def page(client, job_id, **headers):
    return client.get(reverse("jobs:run_detail", args=[job_id]), headers=headers)


def test_a_revoke_run_page_lists_the_requests_it_revoked(operator_client, make_request):
    expired = [make_request(expires_in=-timedelta(days=1)) for _ in range(3)]
    result = revoke_expired_run(triggered_by="alice")

    response = page(operator_client, result.job_id)

    html = response.content.decode()
    assert response.status_code == 200
    assert "Completed" in html and "alice" in html and "Revoked (3)" in html
    assert all(r.request_id in html for r in expired)
    assert "hx-trigger" not in html.split('id="run-detail"')[1].split(">")[0]  # finished: no poll


def test_a_notification_run_page_shows_its_reminders_and_its_failed_sends_with_their_error(
    operator_client, make_request
):
    ok = make_request(expires_in=timedelta(days=5), requestor_email="ok@example.com")
    bad = make_request(expires_in=timedelta(days=6), requestor_email="bad@example.com")
    result = notifications_send(triggered_by="alice", fail_emails=["bad@example.com"])

    html = page(operator_client, result.job_id).content.decode()

    assert "Completed with failures" in html
    assert "Reminders recorded (1)" in html and ok.request_id in html
    assert "Failed sends (1)" in html and bad.request_id in html and "Simulated failure" in html
    failure = NotificationFailure.objects.get()
    assert (failure.job_id, failure.request_id, failure.sent_to) == (
        result.job_id,
        bad.request_id,
        "bad@example.com",
    )


def test_a_refused_run_links_to_the_run_that_held_the_lock(operator_client):
    with lock_held(RevokeExpiredJobRun, triggered_by="bob") as holder:
        with pytest.raises(Exception):  # noqa: B017 - LockHeld
            revoke_expired_run(triggered_by="alice")
        refused = RevokeExpiredJobRun.objects.get(status="Refused")
        assert refused.holder_job_id == holder.job_id
        html = page(operator_client, refused.job_id).content.decode()
        assert reverse("jobs:run_detail", args=[holder.job_id]) in html

        running = page(operator_client, holder.job_id).content.decode()  # in progress: it polls itself
        assert f'hx-get="{reverse("jobs:run_detail", args=[holder.job_id])}"' in running
        assert 'hx-trigger="every 3s"' in running
        assert '<span class="badge InProgress">In progress</span>' in running
        # the live region stays, what the poll replaces is inside it
        assert running.index('id="run-live" aria-live="polite"') < running.index('id="run-detail"')
        assert "running" in page(operator_client, holder.job_id, HX_Request="true").content.decode()


def test_an_unknown_run_is_404_and_the_page_needs_a_login(client, operator_client):
    assert page(operator_client, "no-such-run").status_code == 404
    client.logout()
    assert page(client, "x").status_code == 302


def test_job_history_and_the_result_panels_link_to_the_run(operator_client, make_request):
    make_request(expires_in=-timedelta(days=1))
    result = operator_client.post(reverse("jobs:revoke_run"), headers={"HX-Request": "true"})
    run = RevokeExpiredJobRun.objects.get()
    link = reverse("jobs:run_detail", args=[run.job_id])
    assert link in result.content.decode()
    assert link in operator_client.get(reverse("jobs:job_history")).content.decode()
    assert NotificationJobRun.objects.count() == 0
