"""Structured logs: accessmgr.logging.JsonFormatter writes one JSON object a line (time,
level, logger, message and the record's `extra` fields); settings choose it with
LOG_FORMAT (json by default when DEBUG is off). The job lock logs start, finish,
refusal and failure through it."""

import io
import json
import logging
import subprocess
import sys
import uuid
from datetime import UTC, datetime

import pytest
from django.conf import settings

from accessmgr.logging import JsonFormatter
from jobs.lock import LockHeld, lock_acquire
from jobs.models import RevokeExpiredJobRun

from .conftest import ROOT, django_start
from .test_security import production_env


def format_record(message="hello %s", args=("world",), level=logging.INFO, exc_info=None, **extra):
    record = logging.getLogger("jobs.test").makeRecord(
        "jobs.test", level, __file__, 1, message, args, exc_info, extra=extra
    )
    return JsonFormatter().format(record)


def test_a_record_is_one_json_object_on_one_line():
    line = format_record(job="revoke", jobId="abc", counts={"revoked_count": 3}, duration=1.25)
    assert "\n" not in line
    entry = json.loads(line)
    assert entry["level"] == "INFO"
    assert entry["logger"] == "jobs.test"
    assert entry["message"] == "hello world"
    assert entry["job"] == "revoke" and entry["jobId"] == "abc"
    assert entry["counts"] == {"revoked_count": 3}
    assert entry["duration"] == 1.25
    assert datetime.fromisoformat(entry["time"]).tzinfo == UTC
    # nothing of the LogRecord's own bookkeeping leaks in
    assert not {"args", "msg", "levelno", "pathname", "lineno", "thread", "process"} & set(entry)


def test_values_json_does_not_know_are_written_as_text():
    when = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
    job_id = uuid.uuid4()
    entry = json.loads(format_record(startedAt=when, jobUuid=job_id, thing=object()))
    assert entry["startedAt"] == "2026-03-01T09:00:00+00:00"
    assert entry["jobUuid"] == str(job_id)
    assert entry["thing"].startswith("<object object")


def test_an_exception_goes_in_one_field_of_the_same_line():
    try:
        raise RuntimeError("SMTP down\nsecond line")
    except RuntimeError:
        line = format_record("send failed", (), logging.ERROR, exc_info=sys.exc_info())
    assert "\n" not in line
    entry = json.loads(line)
    assert entry["level"] == "ERROR"
    assert "RuntimeError: SMTP down" in entry["exc_info"]


def test_settings_use_json_when_debug_is_off():
    # The test run has DEBUG off and no LOG_FORMAT: what a production server gets.
    assert settings.DEBUG is False
    assert settings.LOG_FORMAT == "json"
    assert settings.LOGGING["handlers"]["console"]["formatter"] == "json"
    assert settings.LOGGING["formatters"]["json"]["()"] == "accessmgr.logging.JsonFormatter"


def _settings_in_a_fresh_process(**env) -> subprocess.CompletedProcess:
    return django_start(production_env(**env), "from django.conf import settings; print(settings.LOG_FORMAT)")


def test_log_format_plain_and_the_debug_default():
    assert _settings_in_a_fresh_process(LOG_FORMAT="plain").stdout.strip() == "plain"
    assert _settings_in_a_fresh_process(DEBUG="1", SECRET_KEY=None).stdout.strip() == "plain"
    assert _settings_in_a_fresh_process().stdout.strip() == "json"


def test_a_bad_log_format_stops_start_up_naming_it():
    result = _settings_in_a_fresh_process(LOG_FORMAT="xml")
    assert result.returncode != 0
    assert "LOG_FORMAT must be json or plain" in result.stderr


# --- the job lock's lines through the formatter ---------------------------------------


@pytest.fixture
def json_log():
    """The lines the "jobs" loggers write, formatted as in production."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    jobs_logger = logging.getLogger("jobs")
    jobs_logger.addHandler(handler)
    try:
        yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    finally:
        jobs_logger.removeHandler(handler)


@pytest.mark.django_db(transaction=True)
def test_lock_start_refusal_and_failure_are_structured_lines(json_log):
    held = lock_acquire(job=RevokeExpiredJobRun, triggered_by="olivia")
    with pytest.raises(LockHeld):
        lock_acquire(job=RevokeExpiredJobRun, triggered_by="bob")
    held.release(status="Failed", error="Simulated failure")

    by_event = {}
    for entry in json_log():
        by_event.setdefault(entry.get("event"), []).append(entry)

    [started] = by_event["job_started"]
    assert (started["job"], started["jobId"], started["triggeredBy"]) == ("revoke", held.job_id, "olivia")
    assert started["server"] == held.started_by
    assert started["level"] == "INFO" and started["logger"] == "jobs.lock"

    refused = by_event["job_refused"][-1]
    assert refused["job"] == "revoke"
    assert held.job_id in json.dumps(refused)  # who holds the lock

    [finished] = by_event["job_finished"]
    assert finished["jobId"] == held.job_id
    assert finished["status"] == "Failed"
    assert finished["error"] == "Simulated failure"
    assert finished["level"] in ("WARNING", "ERROR")
    assert isinstance(finished["duration"], int | float)


@pytest.mark.django_db(transaction=True)
def test_a_scheduled_run_writes_json_lines_on_stderr(child_env):
    """`manage.py run_revoke` in its own process, as cron runs it: its log is JSON."""
    result = subprocess.run(
        [sys.executable, "manage.py", "run_revoke"],
        env=child_env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    entries = [json.loads(line) for line in result.stderr.splitlines() if line.startswith("{")]
    events = {e.get("event"): e for e in entries}
    assert {"job_started", "job_finished"} <= set(events)
    finished = events["job_finished"]
    assert finished["job"] == "revoke"
    assert finished["status"] == "Completed"
    assert finished["jobId"] == RevokeExpiredJobRun.objects.get().job_id
    assert "counts" in finished and "duration" in finished and "server" in finished
