"""Two separate app servers (gunicorn, two ports) on one PostgreSQL database: when both
are asked to revoke at the same moment, exactly one runs and the other answers 409
naming it. This is the reason the lock lives in the database."""

import threading
from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission, User

from jobs.models import RevokeExpiredJobRun
from requests_app.models import RevokedAccess, UserAccessRequest
from tests.factories import requests_make
from tests.servers import PASSWORD, Server

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_two_servers_posting_at_once_give_one_200_and_one_409_naming_the_other(
    postgres_only, child_env, tmp_path
):
    operator = User.objects.create_user("olivia", "olivia@example.com", PASSWORD)
    operator.user_permissions.add(Permission.objects.get(codename="run_revoke_job"))
    expired = requests_make(5, expires_in=-timedelta(days=1))

    env = {**child_env, "REVOKE_DELAY_SECONDS": "2"}  # long enough for the two POSTs to overlap
    servers = [Server(name, env, tmp_path) for name in ("server-a", "server-b")]
    try:
        for server in servers:
            server.wait_ready()
            server.log_in("olivia")

        barrier = threading.Barrier(len(servers))
        answers: dict[str, tuple[int, dict]] = {}

        def post(server: Server) -> None:
            barrier.wait(timeout=30)
            answers[server.name] = server.post_json("/api/access-requests/revoke-expired")

        threads = [threading.Thread(target=post, args=(s,)) for s in servers]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=90)

        assert sorted(code for code, _ in answers.values()) == [200, 409], answers
        winner = next(s for s in servers if answers[s.name][0] == 200)
        loser = next(s for s in servers if answers[s.name][0] == 409)
        done, refused = answers[winner.name][1], answers[loser.name][1]

        # The 409 names the run of the other server: its jobId, and its host:pid.
        run = RevokeExpiredJobRun.objects.get(job_id=done["jobId"])
        active = refused["activeJob"]
        assert active["jobId"] == done["jobId"]
        assert active["startedBy"] == run.started_by
        host, pid = active["startedBy"].rsplit(":", 1)
        assert host == winner.name
        assert int(pid) in winner.worker_pids()
        assert int(pid) not in loser.worker_pids()

        # And the one run did the whole job.
        assert done["revokedCount"] == 5
        assert run.status == "Completed"
        assert RevokeExpiredJobRun.objects.exclude(status="Refused").count() == 1
        refusal = RevokeExpiredJobRun.objects.get(status="Refused")  # the loser's attempt, history only
        assert refusal.started_by.rsplit(":", 1)[0] == loser.name
        assert set(
            RevokedAccess.objects.filter(job_id=done["jobId"]).values_list("request_id", flat=True)
        ) == {r.request_id for r in expired}
        assert not UserAccessRequest.objects.filter(status="Active").exists()
    finally:
        for server in servers:
            server.stop()
