"""GET /healthz: no login, no data; 200 when the database answers, 503 when it does not."""

import json
import subprocess
import sys

from .conftest import ROOT
from .test_security import production_env


def test_healthz_answers_ok_without_login(client, db):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert "no-store" in response["Cache-Control"]
    assert not response.cookies  # no session, no CSRF cookie: nothing about anyone


def test_healthz_answers_ok_to_a_logged_in_user_too(user_client):
    response = user_client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_healthz_answers_get_and_head_only(client, db):
    assert client.head("/healthz").status_code == 200  # some load balancers probe with HEAD
    assert client.post("/healthz").status_code == 405


HEALTHZ_IN_A_FRESH_PROCESS = """
import django, json
django.setup()
from django.test import Client
response = Client().get("/healthz", HTTP_HOST="accessmgr.example.com")
print(json.dumps({"status": response.status_code, "body": response.content.decode()}))
"""


def _healthz_in_subprocess(database_url: str) -> dict:
    # Production settings (DEBUG off): /healthz is exempt from the HTTPS redirect so a
    # load balancer can probe it over plain HTTP.
    result = subprocess.run(
        [sys.executable, "-c", HEALTHZ_IN_A_FRESH_PROCESS],
        env=production_env(DATABASE_URL=database_url, LOG_FORMAT="json"),
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr
    return {**json.loads(result.stdout.strip().splitlines()[-1]), "log": result.stderr}


def test_healthz_answers_503_when_the_database_is_unreachable(tmp_path):
    unreachable = tmp_path / "no-such-directory" / "db.sqlite3"
    answer = _healthz_in_subprocess(f"sqlite:///{unreachable}")
    assert answer["status"] == 503
    assert json.loads(answer["body"]) == {"status": "unavailable"}  # the reason is not shown
    assert "unable to open database file" not in answer["body"]
    logged = [json.loads(line) for line in answer["log"].splitlines() if line.startswith("{")]
    [health] = [entry for entry in logged if entry["logger"] == "accessmgr.health"]
    assert health["level"] == "WARNING"
    assert "unable to open database file" in health["error"]  # ... but it is logged


def test_healthz_answers_200_over_plain_http_in_production(tmp_path):
    answer = _healthz_in_subprocess(f"sqlite:///{tmp_path / 'db.sqlite3'}")
    assert answer["status"] == 200
    assert json.loads(answer["body"]) == {"status": "ok"}
