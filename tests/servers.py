"""Real app servers for tests: a gunicorn child process on a free port, and a client
with a session (cookies, CSRF) that logs in and calls it like a browser."""

import json
import os
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from http.cookiejar import CookieJar

import pytest

from tests.conftest import ROOT
from tests.factories import PASSWORD

GUNICORN = str(ROOT / ".venv" / "bin" / "gunicorn")
READY_TIMEOUT = 60  # seconds to wait for a server to answer /healthz


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """One gunicorn process (one gthread worker) serving the database of `env`
    (child_env), with `env`'s settings: log in, GET and POST like a browser."""

    def __init__(self, name: str, env: dict, log_dir):
        self.name = name
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = open(log_dir / f"{name}.log", "w+")  # noqa: SIM115 - closed in stop()
        env = {
            **env,
            "SERVER_NAME": name,
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

    def get(self, path: str, *, timeout: float = 60) -> tuple[int, str, str]:
        """GET with this client's session: (status, Content-Type, body), errors included."""
        try:
            with self.opener.open(self.base + path, timeout=timeout) as response:
                return response.status, response.headers.get("Content-Type", ""), response.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, error.headers.get("Content-Type", ""), error.read().decode()

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
