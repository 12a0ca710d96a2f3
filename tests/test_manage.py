"""manage.py in a fresh process: the development settings `make run` leaves in var/dev.env,
and a missing setting as one line instead of a traceback."""

import os
import subprocess
import sys

from tests.conftest import ROOT


def manage(*args, tmp_path, dev_env: str | None = None, **variables) -> subprocess.CompletedProcess:
    """manage.py with only PATH and HOME from this environment (no test defaults), VAR_DIR in
    tmp_path, and var/dev.env holding `dev_env` when given."""
    if dev_env is not None:
        (tmp_path / "dev.env").write_text(dev_env)
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp_path), "VAR_DIR": str(tmp_path)}
    return subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), *args],
        env={**env, **variables},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_after_make_run_the_readme_commands_work(tmp_path):
    result = manage("run_revoke", "--help", tmp_path=tmp_path, dev_env="# make run\nDEBUG=1\n")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: manage.py run_revoke")


def test_dev_env_gives_the_database_make_run_used(tmp_path):
    url = f"sqlite:///{tmp_path / 'other.sqlite3'}"
    result = manage(
        "shell",
        "--verbosity=0",
        "-c",
        "from django.conf import settings; print(settings.DEBUG, settings.DATABASES['default']['NAME'])",
        tmp_path=tmp_path,
        dev_env=f"DEBUG=1\nDATABASE_URL={url}\n",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["True", str(tmp_path / "other.sqlite3")]


def test_without_a_secret_key_the_command_stops_with_one_line(tmp_path):
    result = manage("run_revoke", "--help", tmp_path=tmp_path)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "ImproperlyConfigured: SECRET_KEY must be set when DEBUG is off "
        "(export SECRET_KEY=<a long random string>)"
    ]


def test_the_environment_wins_over_dev_env(tmp_path):
    """A production environment (DEBUG=0) never picks up DEBUG from a stray dev.env, and
    still refuses to start without a SECRET_KEY."""
    result = manage("check", tmp_path=tmp_path, dev_env="DEBUG=1\n", DEBUG="0")
    assert result.returncode == 1
    assert "SECRET_KEY must be set" in result.stderr and "Traceback" not in result.stderr


def test_a_bad_value_is_one_line_naming_the_variable(tmp_path):
    result = manage("check", tmp_path=tmp_path, dev_env="DEBUG=1\n", JOB_POLL_SECONDS="soon")
    assert result.returncode == 1
    assert result.stderr.strip() == "ImproperlyConfigured: JOB_POLL_SECONDS must be a number, got 'soon'"
