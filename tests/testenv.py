"""Loaded by pytest before Django's settings (pyproject: -p tests.testenv): the test
environment's defaults. Delays are settings, 0 in tests; nothing sleeps for real."""

import os
from pathlib import Path

os.environ.setdefault("SECRET_KEY", "tests-only-not-a-secret")
# DEBUG off, as in production: a developer's var/dev.env (make run) must not reach the
# manage.py processes the tests start.
os.environ.setdefault("DEBUG", "0")
os.environ.setdefault("REVOKE_DELAY_SECONDS", "0")
os.environ.setdefault("NOTIFY_SEND_DELAY_SECONDS", "0")
os.environ.setdefault("NOTIFY_RECORD_RETRY_SECONDS", "0")
os.environ.setdefault("NOTIFY_POOL_KEEP_SECONDS", "0")  # no threads left between tests
os.environ.setdefault("LOCK_STATUS_CACHE_SECONDS", "0")  # tests/test_lock_status_cache.py turns it on
os.environ.setdefault("TEST_MODE", "1")
# No create-request rate limit: the counts would carry over from test to test in the process's
# cache. tests/test_rate_limit.py sets one.
os.environ.setdefault("CREATE_REQUEST_RATE", "")
# No delivery thread after each commit: tests run deliver_events themselves, and
# tests/test_deliver_on_commit.py turns it on.
os.environ.setdefault("WEBHOOK_DELIVER_ON_COMMIT", "0")
os.environ.setdefault("ALLOWED_HOSTS", "localhost,127.0.0.1,testserver")
# Production-safe defaults stay on in settings; the test client speaks plain HTTP and
# pages render without `collectstatic` (tests/test_security.py checks the real defaults).
os.environ.setdefault("SECURE_SSL_REDIRECT", "0")
os.environ.setdefault("SESSION_COOKIE_SECURE", "0")
os.environ.setdefault("CSRF_COOKIE_SECURE", "0")
os.environ.setdefault("STATICFILES_MANIFEST", "0")
# An existing (empty) STATIC_ROOT: whitenoise warns on every request when it is missing.
_TEST_STATIC_ROOT = (
    Path(os.environ.get("VAR_DIR", Path(__file__).resolve().parent.parent / "var")) / "test-static"
)
_TEST_STATIC_ROOT.mkdir(parents=True, exist_ok=True)
os.environ.setdefault("STATIC_ROOT", str(_TEST_STATIC_ROOT))
os.environ.setdefault("PASSWORD_HASHERS", "django.contrib.auth.hashers.MD5PasswordHasher")
