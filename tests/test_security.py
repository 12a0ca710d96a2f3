"""Security defaults: every URL needs a login, job triggers need their permission, and a
production configuration (DEBUG off) passes `check --deploy` with nothing to report."""

import json
import os
import re
import secrets
import subprocess
import sys
import uuid

import pytest
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from jobs.models import NotificationJobRun, RevokeExpiredJobRun

from .conftest import ROOT, django_start

# Anonymous access is allowed here only (the favicon: browsers ask for it by themselves);
# admin/ handles its own login (tested below).
PUBLIC = {"/login/", "/healthz", "/favicon.ico"}

SAMPLE_PARAMS = {"int": "1", "str": "revoke", "slug": "revoke", "uuid": str(uuid.uuid4()), "path": "x"}


def _walk(patterns, prefix=""):
    for p in patterns:
        route = prefix + str(p.pattern)
        if isinstance(p, URLResolver):
            if route == "admin/":
                continue
            yield from _walk(p.url_patterns, route)
        elif isinstance(p, URLPattern):
            yield route


def _sample_path(route: str) -> str:
    def fill(match):
        converter = match.group(1) or "str"
        return SAMPLE_PARAMS[converter]

    return "/" + re.sub(r"<(?:(\w+):)?\w+>", fill, route)


def all_paths() -> list[str]:
    return sorted({_sample_path(route) for route in _walk(get_resolver().url_patterns)})


def test_url_walk_finds_every_page_and_api():
    paths = all_paths()
    assert "/jobs/history/" in paths
    assert "/jobs/revoke/banner/" in paths
    assert "/api/access-requests/revoke-expired" in paths
    assert len(paths) >= 15


@pytest.mark.parametrize("path", [p for p in all_paths() if p not in PUBLIC])
@pytest.mark.parametrize("method", ["get", "post"])
def test_every_url_needs_login(client, db, path, method):
    response = getattr(client, method)(path)
    if path.startswith("/api/"):
        assert response.status_code == 401, path
        assert response.json() == {"message": "Authentication required."}
    else:
        assert response.status_code == 302, path
        assert response["Location"].startswith(reverse("login") + "?next="), path


def test_public_urls_are_only_login_and_healthz(client, db):
    assert client.get("/login/").status_code == 200
    assert client.get("/healthz").status_code == 200


def test_admin_sends_anonymous_users_to_its_own_login(client, db):
    response = client.get("/admin/")
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")


JOB_TRIGGERS = [
    ("jobs:revoke_run", RevokeExpiredJobRun),
    ("jobs:api_revoke_expired", RevokeExpiredJobRun),
    ("jobs:notifications_run", NotificationJobRun),
    ("jobs:api_send_expiry_notifications", NotificationJobRun),
]


@pytest.mark.parametrize(("url_name", "job"), JOB_TRIGGERS)
def test_job_trigger_needs_the_permission(user_client, url_name, job):
    response = user_client.post(reverse(url_name))
    assert response.status_code == 403
    assert not job.objects.exists()  # nothing ran


# --- the production configuration, in a fresh process --------------------------------


def production_env(**overrides) -> dict:
    """A clean environment as a deployment would have it: no test defaults."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", "/tmp"),
        "PYTHONPATH": str(ROOT),
        "DJANGO_SETTINGS_MODULE": "accessmgr.settings",
        "DEBUG": "0",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "ALLOWED_HOSTS": "accessmgr.example.com",
        "DATABASE_URL": "sqlite:////nonexistent-accessmgr/db.sqlite3",  # check --deploy needs no DB
    }
    env.update(overrides)
    return {k: v for k, v in env.items() if v is not None}


def run_manage(*args, env) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )


def test_check_deploy_reports_nothing_in_production():
    result = run_manage("check", "--deploy", "--fail-level", "WARNING", env=production_env())
    assert result.returncode == 0, result.stderr
    assert "System check identified no issues" in result.stdout


def test_check_deploy_complains_when_secure_defaults_are_switched_off():
    env = production_env(SECURE_SSL_REDIRECT="0", SESSION_COOKIE_SECURE="0", SECURE_HSTS_SECONDS="0")
    result = run_manage("check", "--deploy", "--fail-level", "WARNING", env=env)
    assert result.returncode != 0
    for warning in ("security.W004", "security.W008", "security.W012"):
        assert warning in result.stderr


def test_missing_secret_key_stops_start_up_naming_it():
    result = run_manage("check", env=production_env(SECRET_KEY=None))
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert "SECRET_KEY must be set" in result.stderr


def _setting_values(names: list[str], env: dict) -> dict:
    code = (
        "import json; from django.conf import settings; "
        f"print(json.dumps({{n: getattr(settings, n, None) for n in {names!r}}}))"
    )
    result = django_start(env, code)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_production_defaults_are_secure():
    values = _setting_values(
        [
            "TEST_MODE",
            "SECURE_SSL_REDIRECT",
            "SESSION_COOKIE_SECURE",
            "CSRF_COOKIE_SECURE",
            "SECURE_HSTS_SECONDS",
            "SECURE_PROXY_SSL_HEADER",
            "LOG_FORMAT",
            "STORAGES",
        ],
        production_env(),
    )
    assert values["TEST_MODE"] is False
    assert values["SECURE_SSL_REDIRECT"] is True
    assert values["SESSION_COOKIE_SECURE"] is True
    assert values["CSRF_COOKIE_SECURE"] is True
    assert values["SECURE_HSTS_SECONDS"] >= 31536000
    assert values["SECURE_PROXY_SSL_HEADER"] is None  # only trusted when the env says so
    assert values["LOG_FORMAT"] == "json"
    assert values["STORAGES"]["staticfiles"]["BACKEND"].endswith("CompressedManifestStaticFilesStorage")


def test_proxy_header_is_trusted_only_when_switched_on():
    values = _setting_values(["SECURE_PROXY_SSL_HEADER"], production_env(SECURE_PROXY_SSL_HEADER="1"))
    assert values["SECURE_PROXY_SSL_HEADER"] == ["HTTP_X_FORWARDED_PROTO", "https"]


def test_a_bad_switch_value_names_the_variable():
    result = run_manage("check", env=production_env(SECURE_SSL_REDIRECT="maybe"))
    assert result.returncode != 0
    assert "SECURE_SSL_REDIRECT must be a boolean" in result.stderr
