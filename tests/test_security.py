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
from django.contrib.auth.models import User
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.views.debug import technical_500_response

from jobs.models import NotificationJobRun, RevokeExpiredJobRun

from .conftest import ROOT, django_start

# Anonymous access is allowed here only (the favicon: browsers ask for it by themselves);
# admin/ handles its own login (tested below), /metrics its bearer token (tests/test_metrics.py).
PUBLIC = {"/login/", "/healthz", "/metrics", "/favicon.ico", "/oidc/authenticate/", "/oidc/callback/"}
METHODS = ["get", "head", "post", "put", "patch", "delete", "options", "trace"]
UNSAFE_METHODS = ["post", "put", "patch", "delete"]

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
    assert "/api/openapi.json" in paths
    assert len(paths) >= 15


@pytest.mark.parametrize("path", [p for p in all_paths() if p not in PUBLIC])
@pytest.mark.parametrize("method", METHODS)
def test_every_url_needs_login(client, db, path, method):
    response = getattr(client, method)(path)
    if path.startswith("/api/"):
        assert response.status_code == 401, path
        if method != "head":
            assert response.json() == {"message": "Authentication required."}
    else:
        assert response.status_code == 302, path
        assert response["Location"].startswith(reverse("login") + "?next="), path


@pytest.mark.parametrize("path", sorted(PUBLIC))
@pytest.mark.parametrize("method", METHODS)
def test_public_urls_answer_every_method_without_a_server_error(client, db, path, method):
    assert getattr(client, method)(path).status_code < 500


@pytest.mark.parametrize("path", all_paths())
@pytest.mark.parametrize("method", UNSAFE_METHODS)
def test_every_unsafe_request_without_a_csrf_token_is_refused(db, user, path, method):
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    response = getattr(client, method)(path)
    assert response.status_code == 403, path
    if path.startswith("/api/"):
        assert response.json()["message"].startswith("CSRF verification failed")


def test_public_urls_are_only_login_and_healthz(client, db):
    assert client.get("/login/").status_code == 200
    assert client.get("/healthz").status_code == 200
    assert client.get("/metrics").status_code == 403  # DEBUG off and no METRICS_TOKEN: refused


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


# --- what the security test found (issue 14, items 5-9) --------------------------------


def test_the_debug_page_never_shows_the_database_url(rf, settings):
    settings.DEBUG = True
    secret_url = "postgres://accessmgr:s3cret-db-pw@db.internal:5432/accessmgr"
    request = rf.get("/", DATABASE_URL=secret_url)  # runserver copies the environment into META
    error = ValueError("boom")  # no traceback: the page would show this test's own source and locals
    page = technical_500_response(request, ValueError, error, None).content.decode()
    assert "s3cret-db-pw" not in page
    assert "DATABASE_URL" in page  # listed, with its value hidden
    assert not hasattr(settings, "DATABASE_URL")  # not a setting at all


def test_check_deploy_fails_while_the_demo_user_exists_naming_it(child_env):
    User.objects.create_user("demo", password="demo")
    env = production_env(DATABASE_URL=child_env["DATABASE_URL"])
    result = run_manage("check", "--deploy", env=env)
    assert result.returncode != 0
    assert "accessmgr.E001" in result.stderr
    assert "The demo user 'demo' exists and DEBUG is off" in result.stderr


def test_check_deploy_warns_when_test_mode_is_on_without_debug():
    result = run_manage("check", "--deploy", "--fail-level", "WARNING", env=production_env(TEST_MODE="1"))
    assert result.returncode != 0
    assert "accessmgr.W001" in result.stderr and "TEST_MODE is on with DEBUG off" in result.stderr


@pytest.fixture
def admin_client(client, db):
    client.force_login(User.objects.create_superuser("root", "root@example.com", "x"))
    return client


@pytest.mark.parametrize(
    "url",
    [
        "/admin/jobs/revokeexpiredjobrun/?started_at__year=9999",
        "/admin/jobs/notificationjobrun/?started_at__year=9999&started_at__month=12",
        "/admin/axes/accessattempt/?attempt_time__year=9999",
        "/admin/jobs/revokeexpiredjobrun/?started_at__year=-1",
        "/admin/requests_app/useraccessrequest/?status=Active%00",
        "/admin/requests_app/useraccessrequest/?q=%00",
        "/admin/auth/user/?q=ad%00min",
        "/admin/requests_app/revokedaccess/?revoked_by=%00",
    ],
)
def test_admin_lists_answer_bad_filters_with_400(admin_client, url):
    response = admin_client.get(url)
    assert response.status_code == 400
    assert b"year from 1 to 9998" in response.content or b"NUL" in response.content


def test_admin_lists_still_filter_by_year(admin_client):
    assert admin_client.get("/admin/jobs/revokeexpiredjobrun/?started_at__year=2026").status_code == 200
    assert admin_client.get("/admin/requests_app/useraccessrequest/?status=Active").status_code == 200


def test_multipart_files_are_never_stored(rf):
    upload = SimpleUploadedFile("big.bin", b"x" * 100_000)
    request = rf.post("/login/", {"username": "alice", "upload": upload})
    assert request.POST["username"] == "alice"
    assert len(request.FILES) == 0


def test_a_body_over_the_cap_is_refused_before_it_is_read(client, db, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10_000
    upload = SimpleUploadedFile("big.bin", b"x" * 20_000)
    response = client.post("/login/", {"username": "alice", "upload": upload})
    assert response.status_code == 400


def test_client_errors_are_logged_as_warnings_not_errors(tmp_path):
    code = (
        "from django.test import Client; c = Client(); "
        "print(c.get('/healthz', HTTP_HOST='evil.example').status_code); "
        "print(c.post('/login/', {f'f{i}': '1' for i in range(1100)}).status_code)"
    )
    result = django_start(
        None, code, LOG_FORMAT="json", DEBUG="0", DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["400", "400"]
    entries = [json.loads(line) for line in result.stderr.splitlines() if line.startswith("{")]
    security = {e["logger"]: e["level"] for e in entries if e["logger"].startswith("django.security.")}
    assert security == {
        "django.security.DisallowedHost": "WARNING",
        "django.security.TooManyFieldsSent": "WARNING",
    }
    assert [e for e in entries if e["level"] == "ERROR"] == []


def _script_tags(html: str) -> list[str]:
    return re.findall(r"<script\b[^>]*>", html)


@pytest.mark.parametrize(
    "url", ["/", "/requests/new/", "/jobs/revoke-expired/", "/jobs/expiry-notifications/", "/jobs/history/"]
)
def test_pages_send_a_csp_and_every_script_passes_it(operator_client, url):
    response = operator_client.get(url)
    policy = response["Content-Security-Policy"]
    assert "default-src 'self'" in policy and "frame-ancestors 'none'" in policy
    script_src = re.search(r"script-src ([^;]+)", policy).group(1).split()
    assert "'unsafe-inline'" not in script_src
    nonces = {s[len("'nonce-") : -1] for s in script_src if s.startswith("'nonce-")}
    for tag in _script_tags(response.content.decode()):
        nonce = re.search(r'nonce="([^"]+)"', tag)
        assert "src=" in tag or (nonce and nonce.group(1) in nonces), tag


def test_pages_and_api_answers_are_not_stored_by_browsers(operator_client):
    for url in ["/", "/jobs/history/", "/api/access-requests", "/api/access-requests/pending-notifications"]:
        cache_control = operator_client.get(url)["Cache-Control"]
        assert "private" in cache_control and "no-store" in cache_control, url


def test_healthz_and_static_files_keep_their_own_caching(client, db, settings):
    settings.WHITENOISE_USE_FINDERS = True  # serve static/ without collectstatic (read at the first request)
    assert "no-cache" in client.get("/healthz")["Cache-Control"]
    static = client.get("/static/css/app.css")
    assert static.status_code == 200
    assert "no-store" not in static.get("Cache-Control", "")
