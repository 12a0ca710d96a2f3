"""`python manage.py run_revoke`: exit 0 done, 75 lock held, 1 failed."""

import json
import signal
import subprocess
import time
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command

import jobs.revoke
from jobs.models import RevokeExpiredJobRun
from requests_app.models import RevokedAccess, UserAccessRequest
from tests.conftest import PYTHON, ROOT
from tests.factories import lock_held, requests_make

pytestmark = pytest.mark.django_db(transaction=True)


def run(*args) -> tuple[int, str, str]:
    out, err = StringIO(), StringIO()
    try:
        call_command("run_revoke", *args, stdout=out, stderr=err)
        code = 0
    except SystemExit as exit_:
        code = exit_.code
    return code, out.getvalue(), err.getvalue()


def test_revokes_prints_the_result_and_exits_0():
    requests_make(3, expires_in=-timedelta(days=1))
    code, out, err = run()

    run_row = RevokeExpiredJobRun.objects.get()
    assert code == 0
    assert "Revoked 3 expired access requests." in out
    assert run_row.job_id in out
    assert run_row.triggered_by == "run_revoke"
    assert RevokedAccess.objects.filter(job_id=run_row.job_id).count() == 3


def test_nothing_to_revoke_exits_0():
    code, out, _ = run()
    assert code == 0
    assert "No expired requests found to revoke." in out


def test_lock_held_exits_75_and_says_who_and_since_when():
    requests_make(1, expires_in=-timedelta(days=1))
    with lock_held(RevokeExpiredJobRun, triggered_by="alice", started_by="web-1:321") as holder:
        code, out, err = run()

    started_at = RevokeExpiredJobRun.objects.get(job_id=holder.job_id).started_at
    assert code == 75
    assert "web-1:321" in err
    assert started_at.isoformat() in err
    assert not UserAccessRequest.objects.filter(status="Revoked").exists()


def test_failure_exits_1_and_changes_nothing(monkeypatch):
    requests_make(2, expires_in=-timedelta(days=1))

    def insert_fails(**kwargs):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(jobs.revoke, "revoke_chunk", insert_fails)
    code, _, err = run()

    assert code == 1
    assert "disk on fire" in err
    assert RevokeExpiredJobRun.objects.get().status == "Failed"
    assert not UserAccessRequest.objects.filter(status="Revoked").exists()


def test_json_output_is_the_api_result():
    requests_make(1, expires_in=-timedelta(days=1))
    code, out, _ = run("--json")
    body = json.loads(out)
    assert code == 0
    assert body["revokedCount"] == 1
    assert set(body) == {"message", "revokedCount", "revokedAt", "jobId"}


def test_real_process_exits_0_then_75_while_another_run_holds_the_lock(child_env):
    requests_make(2, expires_in=-timedelta(days=1))
    cmd = [PYTHON, "manage.py", "run_revoke"]

    done = subprocess.run(cmd, cwd=ROOT, env=child_env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "Revoked 2 expired access requests." in done.stdout
    assert UserAccessRequest.objects.filter(status="Revoked").count() == 2
    assert RevokedAccess.objects.count() == 2

    with lock_held(RevokeExpiredJobRun, triggered_by="alice", started_by="web-2:99"):
        refused = subprocess.run(cmd, cwd=ROOT, env=child_env, capture_output=True, text=True, timeout=120)
    assert refused.returncode == 75, refused.stderr
    assert "web-2:99" in refused.stderr


def test_sigterm_mid_run_releases_the_lock_as_failed_and_exits_1(child_env):
    requests_make(2, expires_in=-timedelta(days=1))
    env = {**child_env, "REVOKE_DELAY_SECONDS": "60"}  # the run sits in its delay, holding the lock
    process = subprocess.Popen(
        [PYTHON, "manage.py", "run_revoke"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while not RevokeExpiredJobRun.objects.filter(status="InProgress").exists():
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline, "the command never took the lock"
            time.sleep(0.05)
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()

    assert process.returncode == 1, err
    assert "Interrupted (SIGTERM)" in err
    run_row = RevokeExpiredJobRun.objects.get()
    assert (run_row.status, run_row.error_message) == ("Failed", "Interrupted (SIGTERM)")
    assert not UserAccessRequest.objects.filter(status="Revoked").exists()
