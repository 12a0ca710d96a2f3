"""The job history page (runs of both jobs, newest first, paginated, filter by job) and the
"last runs" box of the job pages."""

from datetime import UTC, datetime, timedelta

import pytest
from django.template import Context, Template
from django.urls import reverse

from jobs.lock import LockHeld, lock_acquire
from jobs.models import NotificationJobRun, RevokeExpiredJobRun
from jobs.selectors import HISTORY_PAGE_SIZE, job_runs_page, job_runs_recent
from tests.factories import run_make

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
URL = reverse("jobs:job_history")


def make_run(model, *, minutes: int, seconds=12.5, **fields):
    return run_make(model, started_at=T0 + timedelta(minutes=minutes), seconds=seconds, **fields)


@pytest.fixture
def runs(db):
    """Interleaved runs of both jobs, one of each outcome."""
    return {
        "revoke_ok": make_run(RevokeExpiredJobRun, minutes=0, revoked_count=7),
        "notify_ok": make_run(NotificationJobRun, minutes=1, success_count=3, failed_count=1),
        "revoke_failed": make_run(
            RevokeExpiredJobRun, minutes=2, status="Failed", error_message="database went away"
        ),
        "notify_abandoned": make_run(
            NotificationJobRun, minutes=3, status="Abandoned", error_message="Abandoned: no heartbeat"
        ),
        "revoke_running": make_run(
            RevokeExpiredJobRun, minutes=4, status="InProgress", processed_count=2, total_count=9
        ),
    }


def test_history_needs_login(client, db):
    response = client.get(URL)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_history_lists_runs_of_both_jobs_newest_first(user_client, runs):
    response = user_client.get(URL)
    assert response.status_code == 200
    rows = list(response.context["page"].object_list)
    assert [r.job_id for r in rows] == [
        runs[name].job_id
        for name in ("revoke_running", "notify_abandoned", "revoke_failed", "notify_ok", "revoke_ok")
    ]
    assert [r.job for r in rows] == ["revoke", "notifications", "revoke", "notifications", "revoke"]


def test_history_shows_status_who_start_duration_counts_and_error(user_client, runs):
    html = user_client.get(URL).content.decode()
    for status, shown in (
        ("Completed", "Completed"),
        ("Failed", "Failed"),
        ("Abandoned", "Abandoned"),
        ("InProgress", "In progress"),  # display only: stored and in the API as InProgress
    ):
        assert f'<span class="badge {status}">{shown}</span>' in html
    assert "olivia" in html and "web-1:4242" in html
    assert 'datetime="2026-03-01T09:00:00+00:00"' in html
    assert "12.5 s" in html
    assert "Revoked 7" in html
    assert "Sent 3, failed 1" in html
    assert "2 / 9 done" in html  # the running one's progress
    assert "database went away" in html


def test_history_rows_carry_each_jobs_own_counts(runs):
    rows = {r.job_id: r for r in job_runs_page().object_list}
    revoke = rows[runs["revoke_ok"].job_id]
    notify = rows[runs["notify_ok"].job_id]
    assert (revoke.revoked_count, revoke.success_count, revoke.failed_count) == (7, None, None)
    assert (notify.revoked_count, notify.success_count, notify.failed_count) == (None, 3, 1)
    assert revoke.duration == timedelta(seconds=12.5)
    assert rows[runs["revoke_running"].job_id].duration is None


@pytest.mark.parametrize(
    ("job", "model"), [("revoke", RevokeExpiredJobRun), ("notifications", NotificationJobRun)]
)
def test_history_filters_by_job(user_client, runs, job, model):
    response = user_client.get(URL, {"job": job})
    rows = list(response.context["page"].object_list)
    assert {r.job for r in rows} == {job}
    assert len(rows) == model.objects.count()


def test_an_unknown_job_filter_is_ignored_with_a_message(user_client, runs):
    response = user_client.get(URL, {"job": "<script>"})
    assert response.status_code == 200
    assert response.context["bad_job"] is True
    assert len(response.context["page"].object_list) == 5
    assert b"Unknown job filter ignored" in response.content
    assert b"<script>" not in response.content


def test_history_is_paginated_fifty_a_page(user_client, db):
    for i in range(HISTORY_PAGE_SIZE + 10):
        make_run(RevokeExpiredJobRun if i % 2 else NotificationJobRun, minutes=i)
    first = user_client.get(URL).context["page"]
    assert len(first.object_list) == HISTORY_PAGE_SIZE
    assert first.object_list[0].started_at == T0 + timedelta(minutes=HISTORY_PAGE_SIZE + 9)
    second = user_client.get(URL, {"page": 2}).context["page"]
    assert len(second.object_list) == 10
    assert second.object_list[-1].started_at == T0
    seen = {r.job_id for r in first.object_list} | {r.job_id for r in second.object_list}
    assert len(seen) == HISTORY_PAGE_SIZE + 10
    assert b'rel="next"' in user_client.get(URL).content


@pytest.mark.parametrize(("page", "number"), [("abc", 1), ("0", 1), ("999", 2), ("-3", 1)])
def test_a_bad_page_number_gives_the_nearest_page(user_client, db, page, number):
    for i in range(HISTORY_PAGE_SIZE + 1):
        make_run(RevokeExpiredJobRun, minutes=i)
    response = user_client.get(URL, {"page": page})
    assert response.status_code == 200
    assert response.context["page"].number == number


def test_a_page_of_history_is_two_queries_whatever_the_page(runs, django_assert_num_queries):
    with django_assert_num_queries(2):  # the count and the rows
        list(job_runs_page(page=1).object_list)


def test_empty_history_says_so(user_client, db):
    assert b"No runs yet" in user_client.get(URL).content


@pytest.mark.django_db(transaction=True)
def test_history_shows_runs_made_through_the_lock_including_a_failed_one(user, client):
    """A real run holds the lock, a second start is refused (a Refused row), then the run
    fails; both jobs' runs show, the refusal too."""
    held = lock_acquire(job=RevokeExpiredJobRun, triggered_by="olivia")
    with pytest.raises(LockHeld):
        lock_acquire(job=RevokeExpiredJobRun, triggered_by="bob")
    held.release(status="Failed", error="Simulated failure: SMTP down")
    done = lock_acquire(job=NotificationJobRun, triggered_by="scheduler")
    done.release(status="Completed", success_count=2, failed_count=0)

    client.force_login(user)
    response = client.get(URL)
    rows = list(response.context["page"].object_list)
    assert [(r.job, r.status) for r in rows] == [
        ("notifications", "Completed"),
        ("revoke", "Refused"),
        ("revoke", "Failed"),
    ]
    assert rows[1].triggered_by == "bob"
    assert rows[1].error_message == f"Refused: run {held.job_id} on {held.started_by} held the lock."
    assert rows[2].triggered_by == "olivia"
    assert rows[2].duration is not None
    assert b"Simulated failure: SMTP down" in response.content
    assert b"Refused" in response.content


# --- the "last runs" box -------------------------------------------------------------


def render_box(job: str) -> str:
    return Template("{% load job_history %}{% last_runs job %}").render(Context({"job": job}))


def test_last_runs_box_shows_the_last_five_runs_of_one_job_with_a_link(db):
    for i in range(7):
        make_run(RevokeExpiredJobRun, minutes=i, revoked_count=i)
    make_run(NotificationJobRun, minutes=100, success_count=1, failed_count=0)
    recent = job_runs_recent(job="revoke")
    assert [r.revoked_count for r in recent] == [6, 5, 4, 3, 2]
    html = render_box("revoke")
    assert html.count('<span class="badge Completed">') == 5
    assert "Revoked 6" in html and "Revoked 1" not in html
    assert "Sent 1" not in html  # only this job's runs
    assert f'href="{URL}?job=revoke"' in html


def test_last_runs_box_without_runs(db):
    assert "No runs yet." in render_box("notifications")


def test_last_runs_box_reloads_itself_through_htmx(user_client, runs):
    response = user_client.get(URL, {"job": "notifications", "box": "1"}, headers={"HX-Request": "true"})
    assert response.status_code == 200
    html = response.content.decode()
    assert html.lstrip().startswith("{#") is False
    assert 'id="last-runs-notifications"' in html
    assert "<html" not in html
    assert "Sent 3, failed 1" in html and "Revoked 7" not in html


@pytest.mark.parametrize(
    ("page", "job"), [("jobs:revoke_expired", "revoke"), ("jobs:expiry_notifications", "notifications")]
)
def test_each_job_page_shows_its_last_runs_box(user_client, runs, page, job):
    html = user_client.get(reverse(page)).content.decode()
    assert f'id="last-runs-{job}"' in html
    assert f'href="{URL}?job={job}"' in html
