"""The display polls' lock status (jobs.status.live_run_cached, LOCK_STATUS_CACHE_SECONDS): the
banner and the status APIs reuse the process's last read for a moment; a change this process
makes shows at once; a start and its 409 never use it. Transactional tests: the polls run in
autocommit, as they do when served (nothing is cached inside a transaction)."""

import json
from types import SimpleNamespace

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

import jobs.status
from jobs.lock import lock_acquire
from jobs.models import JOB_MODELS, NotificationJobRun, RevokeExpiredJobRun
from jobs.status import live_run_cached
from tests.conftest import django_start
from tests.factories import run_make

pytestmark = pytest.mark.django_db(transaction=True)

STATUS_API = reverse("jobs:api_revoke_job_status")
BANNER = reverse("jobs:banner", args=["revoke"])


@pytest.fixture(autouse=True)
def cached(settings):
    """A TTL far longer than any test: what the tests see comes from the cache or its invalidation."""
    settings.LOCK_STATUS_CACHE_SECONDS = 60
    for job in JOB_MODELS.values():
        jobs.status.status_changed(job)
    yield
    for job in JOB_MODELS.values():
        jobs.status.status_changed(job)


@pytest.fixture
def clock(monkeypatch):
    """The cache's clock, moved by hand: clock.now += seconds."""
    fake = SimpleNamespace(now=1000.0)
    monkeypatch.setattr(jobs.status, "time", SimpleNamespace(monotonic=lambda: fake.now))
    return fake


def started_elsewhere(job=RevokeExpiredJobRun, job_id="other-process-run"):
    """A run another process started: its row, written without going through this process's lock."""
    return run_make(job, status="InProgress", job_id=job_id, started_by="web-2:99")


def status_queries(client, url) -> tuple[dict | str, int]:
    """The answer of a poll and how many of its queries read a job run table."""
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url, headers={"HX-Request": "true"})
    assert response.status_code == 200
    reads = sum("JobRun" in q["sql"] for q in ctx.captured_queries)
    body = response.json() if response["Content-Type"] == "application/json" else response.content.decode()
    return body, reads


def test_a_poll_within_the_ttl_reuses_the_last_read(user_client):
    assert status_queries(user_client, STATUS_API) == ({"isLocked": False, "activeJob": None}, 1)
    started_elsewhere()
    assert status_queries(user_client, STATUS_API) == ({"isLocked": False, "activeJob": None}, 0)
    html, reads = status_queries(user_client, BANNER)  # the banner shares the read
    assert reads == 0 and "Job is currently running" not in html


def test_a_change_made_elsewhere_shows_once_the_ttl_has_passed(user_client, settings, clock):
    settings.LOCK_STATUS_CACHE_SECONDS = 1
    assert user_client.get(STATUS_API).json()["isLocked"] is False
    started_elsewhere()
    clock.now += 0.9
    assert user_client.get(STATUS_API).json()["isLocked"] is False
    clock.now += 0.2
    body = user_client.get(STATUS_API).json()
    assert body["isLocked"] is True
    assert body["activeJob"]["jobId"] == "other-process-run"


def test_this_process_starting_a_run_shows_at_once(user_client):
    assert user_client.get(STATUS_API).json()["isLocked"] is False
    lock = lock_acquire(job=RevokeExpiredJobRun, triggered_by="olivia", started_by="web-1:4242")
    body = user_client.get(STATUS_API).json()
    assert body["isLocked"] is True and body["activeJob"]["jobId"] == lock.job_id
    html = user_client.get(BANNER, {"locked": "0"}, headers={"HX-Request": "true"})
    assert "Job is currently running — Started by web-1:4242" in html.content.decode()
    assert "job-changed" in json.loads(html.headers["HX-Trigger"])
    lock.release(status="Completed", revoked_count=0)


def test_progress_shows_at_once(user_client):
    lock = lock_acquire(job=RevokeExpiredJobRun, triggered_by="olivia")
    assert "<progress" not in user_client.get(BANNER).content.decode()
    lock.progress(processed=17, total=40)
    assert "17 of 40" in user_client.get(BANNER).content.decode()
    assert user_client.get(STATUS_API).json()["activeJob"]["processed"] == 17
    lock.release(status="Completed", revoked_count=17)


def test_progress_inside_a_transaction_shows_when_it_commits(user_client):
    """The revoke job records a chunk's progress in the chunk's transaction."""
    lock = lock_acquire(job=RevokeExpiredJobRun, triggered_by="olivia")
    lock.progress(processed=0, total=40)
    assert "0 of 40" in status_queries(user_client, BANNER)[0]
    with pytest.raises(RuntimeError), transaction.atomic():
        lock.progress(processed=20, total=40)
        raise RuntimeError("the chunk failed")
    html, reads = status_queries(user_client, BANNER)
    assert ("0 of 40" in html, reads) == (True, 0)  # rolled back: nothing changed
    with transaction.atomic():
        lock.progress(processed=17, total=40)
    html, reads = status_queries(user_client, BANNER)
    assert ("17 of 40" in html, reads) == (True, 1)
    lock.release(status="Completed", revoked_count=17)


def test_the_end_of_a_run_shows_at_once(user_client):
    lock = lock_acquire(job=NotificationJobRun, triggered_by="olivia")
    url = reverse("jobs:api_notification_job_status")
    assert user_client.get(url).json()["isLocked"] is True
    lock.release(status="Completed")
    assert user_client.get(url).json() == {"isLocked": False, "activeJob": None}


def test_the_two_jobs_are_cached_apart(user_client):
    assert user_client.get(STATUS_API).json()["isLocked"] is False
    lock = lock_acquire(job=NotificationJobRun, triggered_by="olivia")
    assert user_client.get(reverse("jobs:api_notification_job_status")).json()["isLocked"] is True
    assert status_queries(user_client, STATUS_API) == ({"isLocked": False, "activeJob": None}, 0)
    lock.release(status="Completed")


def test_a_read_overtaken_by_a_change_here_is_not_kept(monkeypatch):
    """A poll reads, this process acquires before the poll stores its answer: the older
    answer must not be served after the acquire."""
    real = jobs.status.live_run
    reads = []

    def read_then_another_thread_acquires(*, job):
        status = real(job=job)
        reads.append(status)
        if len(reads) == 1:
            jobs.status.status_changed(job)  # what lock_acquire does once its row is in
        return status

    monkeypatch.setattr(jobs.status, "live_run", read_then_another_thread_acquires)
    live_run_cached(job=RevokeExpiredJobRun)
    live_run_cached(job=RevokeExpiredJobRun)
    assert len(reads) == 2  # the first answer was dropped, the second read kept
    live_run_cached(job=RevokeExpiredJobRun)
    assert len(reads) == 2


def test_a_start_refused_while_the_cache_says_unlocked_gets_409_with_the_holder(operator_client):
    assert operator_client.get(STATUS_API).json()["isLocked"] is False
    started_elsewhere()
    response = operator_client.post(reverse("jobs:api_revoke_expired"))
    assert response.status_code == 409
    assert response.json()["activeJob"]["jobId"] == "other-process-run"


def test_the_job_page_reads_the_lock_itself(operator_client):
    """The page's button (and the banner it renders first) are not a display poll."""
    assert operator_client.get(STATUS_API).json()["isLocked"] is False
    started_elsewhere()
    html = operator_client.get(reverse("jobs:revoke_expired")).content.decode()
    assert "A revoke run is in progress" in html
    assert "Job is currently running — Started by web-2:99" in html


def test_zero_reads_on_every_poll(user_client, settings):
    settings.LOCK_STATUS_CACHE_SECONDS = 0
    assert status_queries(user_client, STATUS_API)[1] == 1
    started_elsewhere()
    body, reads = status_queries(user_client, STATUS_API)
    assert reads == 1
    assert body["isLocked"] is True


@pytest.mark.parametrize(
    "ttl, poll, ok", [("1", "3", True), ("3", "3", True), ("0", "1", True), ("4", "3", False)]
)
def test_start_up_refuses_a_ttl_longer_than_the_poll(ttl, poll, ok):
    result = django_start(LOCK_STATUS_CACHE_SECONDS=ttl, JOB_POLL_SECONDS=poll)
    if ok:
        assert result.returncode == 0, result.stderr
    else:
        assert result.returncode != 0
        assert "LOCK_STATUS_CACHE_SECONDS" in result.stderr
