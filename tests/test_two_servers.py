"""Two separate app servers (gunicorn, two ports) on one PostgreSQL database: when both
are asked to revoke at the same moment, exactly one runs and the other answers 409
naming it. This is the reason the lock lives in the database."""

import json
import os
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from datetime import timedelta
from http.cookiejar import CookieJar

import pytest
from django.contrib.auth.models import Permission, User

from jobs.models import RevokeExpiredJobRun
from requests_app.models import RevokedAccess, UserAccessRequest
from tests.conftest import ROOT
from tests.factories import requests_make

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

GUNICORN = str(ROOT / ".venv" / "bin" / "gunicorn")
PASSWORD = "correct horse battery"
READY_TIMEOUT = 60  # seconds to wait for a server to answer /healthz


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """One gunicorn process (one gthread worker) serving the test database."""

    def __init__(self, name: str, env: dict, log_dir):
        self.name = name
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = open(log_dir / f"{name}.log", "w+")  # noqa: SIM115 - closed in stop()
        env = {
            **env,
            "SERVER_NAME": name,
            "REVOKE_DELAY_SECONDS": "2",  # long enough for the two POSTs to overlap
            "GUNICORN_BIND": f"127.0.0.1:{self.port}",
            "WEB_CONCURRENCY": "1",
            "GUNICORN_ACCESS_LOG": "",
        }
        self.process = subprocess.Popen(
            [GUNICORN, "-c", "gunicorn.conf.py"], cwd=ROOT, env=env, stdout=self.log, stderr=self.log
        )
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(CookieJar()))

    def wait_ready(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"{self.name} exited: {self.output()}")
            try:
                with urllib.request.urlopen(self.base + "/healthz", timeout=2) as response:
                    if response.status == 200:
                        return
            except OSError:
                time.sleep(0.1)
        pytest.fail(f"{self.name} did not answer /healthz in {READY_TIMEOUT} s: {self.output()}")

    def csrf_token(self) -> str:
        jar = next(h for h in self.opener.handlers if isinstance(h, urllib.request.HTTPCookieProcessor))
        return next(c.value for c in jar.cookiejar if c.name == "csrftoken")

    def log_in(self, username: str) -> None:
        self.opener.open(self.base + "/login/", timeout=10).read()  # sets the csrftoken cookie
        form = urllib.parse.urlencode(
            {"username": username, "password": PASSWORD, "csrfmiddlewaretoken": self.csrf_token()}
        ).encode()
        with self.opener.open(self.base + "/login/", data=form, timeout=10) as response:
            assert "/login/" not in response.url, f"login on {self.name} failed"

    def post_json(self, path: str) -> tuple[int, dict]:
        request = urllib.request.Request(
            self.base + path, data=b"", method="POST", headers={"X-CSRFToken": self.csrf_token()}
        )
        try:
            with self.opener.open(request, timeout=60) as response:
                return response.status, json.load(response)
        except urllib.error.HTTPError as error:
            return error.code, json.load(error)

    def worker_pids(self) -> set[int]:
        """The gunicorn master and its worker(s): the process that ran a job is one of them."""
        pids = {self.process.pid}
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    with open(f"/proc/{entry}/stat") as f:
                        ppid = int(f.read().rsplit(")", 1)[1].split()[1])
                except OSError:
                    continue
                if ppid == self.process.pid:
                    pids.add(int(entry))
        return pids

    def output(self) -> str:
        self.log.flush()
        self.log.seek(0)
        return self.log.read()[-3000:]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()


def test_two_servers_posting_at_once_give_one_200_and_one_409_naming_the_other(
    postgres_only, child_env, tmp_path
):
    operator = User.objects.create_user("olivia", "olivia@example.com", PASSWORD)
    operator.user_permissions.add(Permission.objects.get(codename="run_revoke_job"))
    expired = requests_make(5, expires_in=-timedelta(days=1))

    servers = [Server(name, child_env, tmp_path) for name in ("server-a", "server-b")]
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
