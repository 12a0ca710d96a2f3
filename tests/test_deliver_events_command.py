"""`python manage.py deliver_events`: exit 0 / 75 / 1, and what a crash or SIGKILL leaves."""

import json
import signal
import subprocess
import threading
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.test import override_settings

import jobs.revoke
from accessmgr.db import db_now
from jobs.delivery import deliver_events_run
from jobs.models import DeliverEventsJobRun
from jobs.revoke import revoke_expired_run
from jobs.runner import JobFailed
from requests_app.models import UserAccessRequest
from tests.conftest import PYTHON, ROOT
from tests.factories import lock_held
from webhooks.models import REVOKED, WebhookDelivery, WebhookEvent
from webhooks.services import endpoint_create

from .webhook_receiver import Receiver

pytestmark = pytest.mark.django_db(transaction=True)

ALLOW = {"WEBHOOK_ALLOW_PRIVATE_NETWORKS": "1", "WEBHOOK_RETRY_SECONDS": "0,0,0"}


@pytest.fixture(autouse=True)
def private_networks():
    with override_settings(WEBHOOK_ALLOW_PRIVATE_NETWORKS=True, WEBHOOK_RETRY_SECONDS=[0, 0, 0]):
        yield


def run(*args) -> tuple[int, str, str]:
    out, err = StringIO(), StringIO()
    try:
        call_command("deliver_events", *args, stdout=out, stderr=err)
        code = 0
    except SystemExit as exit_:
        code = exit_.code
    return code, out.getvalue(), err.getvalue()


def expired(make_request, n: int) -> None:
    for _ in range(n):
        make_request(expires_in=-timedelta(hours=1))


def test_delivers_prints_the_result_and_exits_0(make_request):
    with Receiver() as receiver:
        endpoint_create(url=receiver.url)
        expired(make_request, 3)
        revoke_expired_run(triggered_by="test")
        code, out, err = run("--json")
    assert code == 0, err
    body = json.loads(out)
    assert (body["deliveredCount"], body["failedCount"], body["dispatchedCount"]) == (3, 0, 3)
    assert len(receiver.received) == 3


def test_lock_held_exits_75():
    with lock_held(DeliverEventsJobRun, triggered_by="alice", started_by="web-2:99"):
        code, _, err = run()
    assert code == 75
    assert "web-2:99" in err


def test_a_crash_after_a_chunk_committed_loses_none_of_its_events(make_request, monkeypatch):
    """Chunk 1 commits (revocations and events); chunk 2 fails and rolls back entirely; the
    next delivery run sends chunk 1's events and nothing else."""
    expired(make_request, 4)
    real = jobs.revoke.revoke_chunk
    calls = []

    def crash_on_second_chunk(**kwargs):
        calls.append(real(**kwargs))  # the chunk's revocations and events are written…
        if len(calls) == 2:
            raise ConnectionError("server gone")  # …and the second chunk never commits
        return calls[-1]

    monkeypatch.setattr(jobs.revoke, "revoke_chunk", crash_on_second_chunk)
    with override_settings(REVOKE_CHUNK_SIZE=2), pytest.raises(JobFailed):
        revoke_expired_run(triggered_by="test")
    assert UserAccessRequest.objects.filter(status="Revoked").count() == 2
    revoked = set(UserAccessRequest.objects.filter(status="Revoked").values_list("request_id", flat=True))
    assert set(WebhookEvent.objects.values_list("request_id", flat=True)) == revoked
    with Receiver() as receiver:
        endpoint_create(url=receiver.url)
        assert deliver_events_run(triggered_by="test").delivered_count == 2
    assert {json.loads(r.body)["data"]["requestId"] for r in receiver.received} == revoked


def _start(child_env, **extra) -> subprocess.Popen:
    return subprocess.Popen(
        [PYTHON, "manage.py", "deliver_events"],
        cwd=ROOT,
        env={**child_env, **ALLOW, **extra},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_two_processes_at_once_one_delivers_one_exits_75(child_env, make_request):
    gate, arrived = threading.Event(), threading.Event()

    def answer(n):
        arrived.set()
        gate.wait(60)
        return 200

    with Receiver(answer=answer) as receiver:
        endpoint_create(url=receiver.url)
        expired(make_request, 2)
        revoke_expired_run(triggered_by="test")
        first = _start(child_env, WEBHOOK_TIMEOUT_SECONDS="300")  # held at the gate, not timed out
        try:
            assert arrived.wait(60), first.communicate(timeout=5)
            second = subprocess.run(
                [PYTHON, "manage.py", "deliver_events"],
                cwd=ROOT,
                env={**child_env, **ALLOW},
                capture_output=True,
                text=True,
                timeout=120,
            )
            gate.set()
            out, err = first.communicate(timeout=60)
        finally:
            gate.set()
            if first.poll() is None:
                first.kill()
                first.wait()
    assert second.returncode == 75, second.stderr
    assert first.returncode == 0, err
    assert "Delivered 2 webhook events" in out
    assert len(receiver.received) == 2


def test_sigkill_mid_run_loses_nothing_and_resends_only_what_was_not_recorded(child_env, make_request):
    gate, stuck = threading.Event(), threading.Event()

    def answer(n):
        if n <= 6:
            return 200
        stuck.set()
        gate.wait(60)  # the rest hang until the process is gone
        return 200

    with Receiver(answer=answer) as receiver:
        endpoint_create(url=receiver.url)
        expired(make_request, 20)
        revoke_expired_run(triggered_by="test")
        process = _start(child_env, WEBHOOK_MAX_WORKERS="2")
        try:
            assert stuck.wait(60), process.communicate(timeout=5)
            process.send_signal(signal.SIGKILL)
            process.wait(timeout=30)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
        gate.set()
        delivered_before = set(
            WebhookDelivery.objects.filter(status="delivered").values_list("event_id", flat=True)
        )
        sent_before = len(receiver.received)
        # the killed run stops beating: once the stale limit has passed, the next run takes over
        an_hour_ago = db_now() - timedelta(hours=1)
        DeliverEventsJobRun.objects.filter(status="InProgress").update(
            started_at=an_hour_ago, heartbeat_at=an_hour_ago
        )
        result = deliver_events_run(triggered_by="test")
    assert DeliverEventsJobRun.objects.filter(status="Abandoned").count() == 1
    assert WebhookDelivery.objects.filter(status="delivered").count() == 20
    resent = {int(r.headers["webhook-id"].removeprefix("evt_")) for r in receiver.received[sent_before:]}
    assert not resent & delivered_before  # a recorded 2xx is never sent again
    everything = {int(r.headers["webhook-id"].removeprefix("evt_")) for r in receiver.received}
    assert everything == set(WebhookEvent.objects.filter(type=REVOKED).values_list("id", flat=True))
    assert result.delivered_count == 20 - len(delivered_before)
