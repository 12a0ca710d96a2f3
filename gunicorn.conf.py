"""gunicorn settings for accessmgr (`make serve`, or `gunicorn -c gunicorn.conf.py`).

gthread workers: each worker process serves GUNICORN_THREADS requests at once, so a job
run started from a page (it waits NOTIFY_SEND_DELAY_SECONDS or REVOKE_DELAY_SECONDS
before its work) does not block the other pages. The worker timeout is derived from
those delays so a run from a page is never killed mid-way. See docs/deploy.md.
"""

import os


def _env_number(name: str, default: float) -> float:
    raw = os.environ.get(name, "")
    if raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise SystemExit(f"gunicorn.conf.py: {name} must be a number, got {raw!r}") from None
    if value < 0:
        raise SystemExit(f"gunicorn.conf.py: {name} must not be negative, got {raw!r}")
    return value


# The longest synchronous request: a job run from its page waits its delay, then works.
_longest_delay = max(
    _env_number("NOTIFY_SEND_DELAY_SECONDS", 10),  # same defaults as accessmgr/settings.py
    _env_number("REVOKE_DELAY_SECONDS", 15),
)
TIMEOUT_FLOOR_SECONDS = 120
TIMEOUT_MARGIN_SECONDS = 90  # the job's own work after its delay (sends, chunked updates)

wsgi_app = "accessmgr.wsgi:application"
bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")
worker_class = "gthread"
workers = int(_env_number("WEB_CONCURRENCY", 2))
threads = int(_env_number("GUNICORN_THREADS", 8))
timeout = int(max(TIMEOUT_FLOOR_SECONDS, _longest_delay + TIMEOUT_MARGIN_SECONDS))
graceful_timeout = timeout  # a restart lets a running job finish and release its lock
keepalive = 5
# Access log on stdout; the application's own (JSON) log lines go to stderr.
accesslog = os.environ.get("GUNICORN_ACCESS_LOG", "-") or None
errorlog = "-"
# X-Forwarded-* are trusted only from these proxy addresses (comma-separated, or "*").
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1,::1")
