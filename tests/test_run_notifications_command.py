"""`manage.py run_notifications`: exit 0 done, 3 done with failed sends (listed), 75 locked, 1 failed,
2 bad options."""

import json
import signal
import socket
import subprocess
import time

import pytest
from django.core.management import call_command

from accessmgr.db import db_now
from jobs.models import NotificationJobRun
from requests_app.models import ExpiryNotification
from tests.conftest import PYTHON, ROOT
from tests.factories import expiry_in, lock_held, request_make


def _manage(env, *args, timeout=60):
    return subprocess.run(
        [PYTHON, "manage.py", "run_notifications", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.fixture
def outbox_env(child_env, tmp_path):
    """A child process whose emails go to a file outbox, as in development."""
    return child_env | {
        "EMAIL_BACKEND": "django.core.mail.backends.filebased.EmailBackend",
        "EMAIL_FILE_PATH": str(tmp_path / "outbox"),
    }


def test_exit_0_when_every_send_went_out(outbox_env):
    request_make(expires_on=expiry_in(5, db_now()), requestor_email="ok@example.com")
    done = _manage(outbox_env)
    assert done.returncode == 0, done.stderr
    assert "Sent 1 of 1 notifications." in done.stdout


def test_exit_3_when_the_smtp_server_is_down_and_the_run_shows_its_failures(child_env):
    with socket.socket() as probe:  # a port nobody listens on: every connection is refused
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    request_make(expires_on=expiry_in(5, db_now()), requestor_email="ok@example.com")
    env = child_env | {
        "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
        "EMAIL_HOST": "127.0.0.1",
        "EMAIL_PORT": str(port),
    }
    done = _manage(env)
    assert done.returncode == 3, done.stderr
    assert "Sent 0 of 1 notifications; 1 failed" in done.stdout
    assert "Connection refused" in done.stdout
    run = NotificationJobRun.objects.get()
    assert (run.status, run.outcome, run.failed_count) == ("Completed", "Completed with failures", 1)
    assert not ExpiryNotification.objects.exists()


def test_exit_3_and_failed_sends_are_listed(outbox_env, tmp_path):
    now = db_now()
    ok = request_make(expires_on=expiry_in(5, now), requestor_email="ok@example.com")
    bad = request_make(expires_on=expiry_in(6, now), requestor_email="bad@example.com")

    done = _manage(outbox_env, "--fail-email", "bad@example.com")

    assert done.returncode == 3, done.stderr
    assert "Sent 1 of 2 notifications; 1 failed" in done.stdout
    assert f"sent    {ok.request_id}  ok@example.com  30-Day Reminder" in done.stdout
    assert f"FAILED  {bad.request_id}  bad@example.com  Simulated failure" in done.stdout
    assert list(ExpiryNotification.objects.values_list("request_id", flat=True)) == [ok.request_id]
    written = "".join(p.read_text() for p in (tmp_path / "outbox").iterdir())
    assert "To: ok@example.com" in written and "bad@example.com" not in written
    run = NotificationJobRun.objects.get()
    assert (run.status, run.triggered_by, run.success_count, run.failed_count) == (
        "Completed",
        "run_notifications",
        1,
        1,
    )


def test_exit_75_while_another_run_holds_the_lock(child_env):
    request_make(expires_on=expiry_in(5, db_now()))
    with lock_held(NotificationJobRun) as held:
        refused = _manage(child_env)
    assert refused.returncode == 75
    assert held.job_id in refused.stderr and held.started_by in refused.stderr
    assert not ExpiryNotification.objects.exists()


def test_sigterm_releases_the_run_as_failed_and_exits_1(child_env):
    request_make(expires_on=expiry_in(5, db_now()))
    proc = subprocess.Popen(
        [PYTHON, "manage.py", "run_notifications"],
        cwd=ROOT,
        env=child_env | {"NOTIFY_SEND_DELAY_SECONDS": "600"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120  # a child's start-up on a loaded machine
        while not NotificationJobRun.objects.filter(status="InProgress", total_count=1).exists():
            assert time.monotonic() < deadline and proc.poll() is None, proc.stderr.read()
            time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=120)  # the waiting task wakes at once, not after 600 s
    finally:
        proc.kill()
    assert proc.returncode == 1, stderr
    run = NotificationJobRun.objects.get()
    assert run.status == "Failed" and "SIGTERM" in run.error_message
    assert not ExpiryNotification.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_json_output_is_the_api_result(capsys):
    request_make(expires_on=expiry_in(5, db_now()))
    call_command("run_notifications", "--json")
    result = json.loads(capsys.readouterr().out)
    assert result["notifiedCount"] == 1 and result["failures"] == []


@pytest.mark.django_db(transaction=True)
def test_exit_1_when_the_run_fails(settings, capsys):
    settings.REMINDER_DAYS = []
    with pytest.raises(SystemExit) as exited:
        call_command("run_notifications")
    assert exited.value.code == 1
    assert "failed" in capsys.readouterr().err
    assert NotificationJobRun.objects.get().status == "Failed"


@pytest.mark.parametrize(
    "args,expected",
    [(["--simulate-failures"], "TEST_MODE"), (["--fail-email", "a@example.com"], "TEST_MODE")],
)
@pytest.mark.django_db
def test_test_mode_flags_are_refused_when_test_mode_is_off(settings, capsys, args, expected):
    settings.TEST_MODE = False
    with pytest.raises(SystemExit) as exited:
        call_command("run_notifications", *args)
    assert exited.value.code == 2 and expected in capsys.readouterr().err
    assert not NotificationJobRun.objects.exists()


@pytest.mark.django_db
def test_a_malformed_fail_email_exits_2(capsys):
    with pytest.raises(SystemExit) as exited:
        call_command("run_notifications", "--fail-email", "nope")
    assert exited.value.code == 2 and "email address" in capsys.readouterr().err
