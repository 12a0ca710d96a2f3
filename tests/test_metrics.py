"""GET /metrics: the bearer token, and values read from the database, the same from every
gunicorn worker."""

import http.client
import socket
import subprocess
import time
from datetime import timedelta

import pytest
import sqlglot
from django.db.models import F

from jobs.dialects import seconds_between_sql
from jobs.lock import lock_acquire
from jobs.models import NotificationJobRun, RevokeExpiredJobRun
from jobs.notifications import notifications_send
from jobs.retention import history_prune
from jobs.revoke import revoke_expired_run

from .conftest import ROOT
from .metrics_scrape import TOKEN, samples, scrape, value

GUNICORN = str(ROOT / ".venv" / "bin" / "gunicorn")


@pytest.mark.django_db
def test_metrics_need_the_bearer_token(client, token):
    assert client.get("/metrics").status_code == 401
    refused = client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong")
    assert refused.status_code == 401
    assert refused["WWW-Authenticate"] == 'Bearer realm="metrics"'
    assert client.get("/metrics", **token).status_code == 200


@pytest.mark.django_db
def test_without_a_token_setting_metrics_are_refused_unless_debug(client, settings):
    settings.METRICS_TOKEN = ""
    settings.DEBUG = False
    response = client.get("/metrics")
    assert response.status_code == 403
    assert b"set METRICS_TOKEN" in response.content
    settings.DEBUG = True
    assert client.get("/metrics").status_code == 200


@pytest.mark.django_db(transaction=True)
def test_metrics_count_runs_by_result_and_the_items_they_processed(client, token, make_request):
    make_request(expires_in=-timedelta(days=1))
    make_request(expires_in=-timedelta(days=2))
    make_request(expires_in=timedelta(days=20), requestor_email="ok@example.com")
    make_request(expires_in=timedelta(days=21), requestor_email="bounce@example.com")
    before = scrape(client, token)
    assert value(before, "accessmgr_overdue_revocations") == 2
    assert value(before, "accessmgr_pending_reminders") == 2
    assert value(before, "accessmgr_job_runs_total", job="revoke", result="completed") == 0

    revoke_expired_run(triggered_by="test")
    notifications_send(triggered_by="test", fail_emails=["bounce@example.com"])
    held = lock_acquire(job=RevokeExpiredJobRun, triggered_by="long")
    try:
        with pytest.raises(Exception, match="already running"):
            revoke_expired_run(triggered_by="test")
        during = scrape(client, token)
    finally:
        held.release(status="Failed", error="stopped")
    after = scrape(client, token)

    assert value(during, "accessmgr_job_running", job="revoke") == 1
    assert value(during, "accessmgr_job_running", job="notifications") == 0
    assert value(after, "accessmgr_job_running", job="revoke") == 0
    assert value(after, "accessmgr_job_runs_total", job="revoke", result="completed") == 1
    assert value(after, "accessmgr_job_runs_total", job="revoke", result="refused") == 1
    assert value(after, "accessmgr_job_runs_total", job="revoke", result="failed") == 1
    assert value(after, "accessmgr_job_runs_total", job="notifications", result="completed") == 0
    assert (
        value(after, "accessmgr_job_runs_total", job="notifications", result="completed_with_failures") == 1
    )
    assert value(after, "accessmgr_job_items_total", job="revoke", item="revoked") == 2
    # its reminder and the two "access ended" notices of the requests the revoke run revoked
    assert value(after, "accessmgr_job_items_total", job="notifications", item="sent") == 3
    assert value(after, "accessmgr_job_items_total", job="notifications", item="failed_sends") == 1
    assert value(after, "accessmgr_job_duration_seconds_count", job="revoke") == 2  # completed + failed
    assert value(after, "accessmgr_job_duration_seconds_bucket", job="revoke", le="+Inf") == 2
    completed = RevokeExpiredJobRun.objects.get(status="Completed").completed_at
    assert value(after, "accessmgr_job_last_success_timestamp_seconds", job="revoke") == pytest.approx(
        completed.timestamp()
    )
    last_notify = NotificationJobRun.objects.get().completed_at.timestamp()
    assert value(after, "accessmgr_job_last_success_timestamp_seconds", job="notifications") == pytest.approx(
        last_notify
    )
    assert value(after, "accessmgr_overdue_revocations") == 0
    assert value(after, "accessmgr_pending_reminders") == 1  # the bounced one is still due


@pytest.mark.django_db(transaction=True)
def test_counters_do_not_go_down_when_history_is_pruned(client, token, make_request):
    make_request(expires_in=-timedelta(days=1))
    revoke_expired_run(triggered_by="old")
    notifications_send(triggered_by="old")
    held = lock_acquire(job=RevokeExpiredJobRun, triggered_by="long")
    with pytest.raises(Exception, match="already running"):
        revoke_expired_run(triggered_by="refused")
    held.release(status="Completed", revoked_count=0)
    before = scrape(client, token)
    for model in (RevokeExpiredJobRun, NotificationJobRun):  # the same runs, 100 days ago
        model.objects.update(
            started_at=F("started_at") - timedelta(days=100),
            completed_at=F("completed_at") - timedelta(days=100),
        )

    assert history_prune(older_than=timedelta(days=90)) == {
        "revoke": 3,
        "notifications": 1,
        "deliveries": 0,
        "ticks": 0,
    }
    revoke_expired_run(triggered_by="new")
    after = scrape(client, token)

    counters = [key for key in before if key[0].endswith(("_total", "_count", "_sum", "_bucket"))]
    completed = ("accessmgr_job_runs_total", (("job", "revoke"), ("result", "completed")))
    for key in counters:
        if key[0] == "accessmgr_job_duration_seconds_sum" or (
            _one_more_duration(key) and "+Inf" not in str(key)
        ):
            assert before[key] <= after[key] <= before[key] + 1, key  # which bucket: how long the run took
        else:
            assert after[key] == before[key] + (1 if key == completed or _one_more_duration(key) else 0), key


def _one_more_duration(key) -> bool:
    """The new revoke run adds one to each of revoke's duration buckets and its count."""
    name, labels = key
    return name in ("accessmgr_job_duration_seconds_bucket", "accessmgr_job_duration_seconds_count") and (
        ("job", "revoke") in labels
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(port: int, path: str, **headers) -> tuple[int, str]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("GET", path, headers={"Host": "127.0.0.1", "Connection": "close", **headers})
    response = conn.getresponse()
    body = response.read().decode()
    conn.close()
    return response.status, body


@pytest.fixture
def gunicorn_two_workers(child_env, tmp_path):
    port = _free_port()
    env = {
        **child_env,
        "DEBUG": "0",
        "METRICS_TOKEN": TOKEN,
        "GUNICORN_BIND": f"127.0.0.1:{port}",
        "WEB_CONCURRENCY": "2",
        "GUNICORN_ACCESS_LOG": "",
    }
    log = open(tmp_path / "gunicorn.log", "w+")  # noqa: SIM115 - closed below
    server = subprocess.Popen([GUNICORN, "-c", "gunicorn.conf.py"], cwd=ROOT, env=env, stdout=log, stderr=log)
    try:
        deadline = time.monotonic() + 180  # a bound, not an expectation: a busy machine starts slowly
        while True:
            try:
                if _get(port, "/healthz")[0] == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline or server.poll() is not None:
                log.seek(0)
                pytest.fail(f"gunicorn did not start: {log.read()[-3000:]}")
            time.sleep(0.05)
        yield port
    finally:
        server.terminate()
        server.wait(timeout=120)
        log.close()


SCRAPES = 8  # new connections each: both workers answer some of them


def test_every_gunicorn_worker_gives_the_same_counters(gunicorn_two_workers, make_request):
    port = gunicorn_two_workers
    assert _get(port, "/metrics")[0] == 401  # anonymous, DEBUG off: refused
    key = ("accessmgr_job_runs_total", (("job", "revoke"), ("result", "completed")))
    auth = {"Authorization": f"Bearer {TOKEN}"}

    before = {samples(_get(port, "/metrics", **auth)[1])[key] for _ in range(SCRAPES)}
    make_request(expires_in=-timedelta(days=1))
    revoke_expired_run(triggered_by="test")
    after = [samples(_get(port, "/metrics", **auth)[1]) for _ in range(SCRAPES)]

    assert before == {0}
    assert {scraped[key] for scraped in after} == {1}
    revoked = ("accessmgr_job_items_total", (("item", "revoked"), ("job", "revoke")))
    assert {scraped[revoked] for scraped in after} == {1}


@pytest.mark.parametrize(
    ("vendor", "read"), [("postgresql", "postgres"), ("sqlite", "sqlite"), ("microsoft", "tsql")]
)
def test_the_duration_sql_parses_for_each_database(vendor, read):
    sql = seconds_between_sql(vendor=vendor, start='"Started_At"', end='"Completed_At"')
    if vendor == "microsoft":
        sql = sql.replace('"Started_At"', "[Started_At]").replace('"Completed_At"', "[Completed_At]")
    parsed = sqlglot.parse_one(f"SELECT {sql} FROM RevokeExpiredJobRun", read=read)
    assert {c.name for c in parsed.find_all(sqlglot.exp.Column)} >= {"Started_At", "Completed_At"}
