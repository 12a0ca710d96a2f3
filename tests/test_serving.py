"""Production serving: gunicorn (gunicorn.conf.py) with DEBUG off serves pages and
whitenoise's hashed, compressed static files, over real HTTP."""

import http.client
import re
import runpy
import socket
import subprocess
import sys
import time

import pytest

from .conftest import ROOT
from .test_security import production_env

GUNICORN = str(ROOT / ".venv" / "bin" / "gunicorn")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(port: int, path: str, **headers) -> http.client.HTTPResponse:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("GET", path, headers={"Host": "accessmgr.example.com", **headers})
    response = conn.getresponse()
    response.body = response.read()
    conn.close()
    return response


@pytest.fixture
def served(tmp_path):
    """gunicorn on a free port, production settings, behind a (pretend) TLS proxy."""
    port = _free_port()
    env = production_env(
        DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}",
        STATIC_ROOT=str(tmp_path / "static"),
        SECURE_PROXY_SSL_HEADER="1",
        GUNICORN_BIND=f"127.0.0.1:{port}",
        WEB_CONCURRENCY="1",
        GUNICORN_ACCESS_LOG="",
    )
    subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--no-input"],
        env=env,
        cwd=ROOT,
        check=True,
        capture_output=True,
        timeout=120,
    )
    server = subprocess.Popen(
        [GUNICORN, "-c", "gunicorn.conf.py"],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        for _ in range(200):
            try:
                if _get(port, "/healthz").status == 200:
                    break
            except OSError:
                time.sleep(0.05)
        else:
            pytest.fail("gunicorn did not answer /healthz")
        yield port
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_gunicorn_serves_pages_and_hashed_compressed_static_files(served):
    health = _get(served, "/healthz")
    assert health.status == 200
    assert health.body == b'{"status": "ok"}'

    page = _get(served, "/login/", **{"X-Forwarded-Proto": "https"})
    assert page.status == 200
    assert "max-age=31536000" in page.getheader("Strict-Transport-Security")
    css = re.search(rb'href="(/static/css/app\.[0-9a-f]{12}\.css)"', page.body)
    assert css, page.body[:500]

    static = _get(served, css.group(1).decode(), **{"Accept-Encoding": "gzip", "X-Forwarded-Proto": "https"})
    assert static.status == 200
    assert static.getheader("Content-Encoding") == "gzip"
    assert "immutable" in static.getheader("Cache-Control")


def test_plain_http_pages_redirect_to_https_but_healthz_does_not(served):
    page = _get(served, "/login/")
    assert page.status == 301
    assert page.getheader("Location") == "https://accessmgr.example.com/login/"
    assert _get(served, "/healthz").status == 200


def _gunicorn_config(monkeypatch, **env) -> dict:
    for name in ("NOTIFY_SEND_DELAY_SECONDS", "REVOKE_DELAY_SECONDS"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return runpy.run_path(str(ROOT / "gunicorn.conf.py"))


def test_gunicorn_uses_threads_and_a_timeout_above_the_longest_job_delay(monkeypatch):
    config = _gunicorn_config(monkeypatch)
    assert config["worker_class"] == "gthread"
    assert config["threads"] > 1
    assert config["timeout"] >= 120  # the floor; default delays are 10 s and 15 s

    config = _gunicorn_config(monkeypatch, NOTIFY_SEND_DELAY_SECONDS="300", REVOKE_DELAY_SECONDS="20")
    assert config["timeout"] > 300
    assert config["graceful_timeout"] == config["timeout"]


def test_gunicorn_config_rejects_a_bad_delay(monkeypatch):
    with pytest.raises(SystemExit, match="REVOKE_DELAY_SECONDS must be a number"):
        _gunicorn_config(monkeypatch, REVOKE_DELAY_SECONDS="soon")
