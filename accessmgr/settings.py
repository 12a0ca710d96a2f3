"""Settings for accessmgr: one flat file, every knob read from the environment.

Each variable is documented once, with its default, in docs/configuration.md.
A bad value stops start-up with ImproperlyConfigured naming the variable.
"""

import os
import socket
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("VAR_DIR", BASE_DIR / "var"))


def env_str(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    value = raw.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise ImproperlyConfigured(f"{name} must be a boolean (1/0, true/false), got {raw!r}")


def env_float(name: str, default: float, *, minimum: float = 0) -> float:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a number, got {raw!r}") from None
    if value < minimum:
        raise ImproperlyConfigured(f"{name} must be at least {minimum}, got {raw!r}")
    return value


def env_int(name: str, default: int, *, minimum: int = 0) -> int:
    value = env_float(name, default, minimum=minimum)
    if value != int(value):
        raise ImproperlyConfigured(f"{name} must be a whole number, got {value!r}")
    return int(value)


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


DEBUG = env_bool("DEBUG", False)

SECRET_KEY = env_str("SECRET_KEY")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "SECRET_KEY must be set when DEBUG is off (export SECRET_KEY=<a long random string>)"
        )
    SECRET_KEY = "django-insecure-development-only-key"

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]" if DEBUG else "")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")
CSRF_FAILURE_VIEW = "requests_app.api.csrf_failure"  # JSON 403 on /api/, the usual page elsewhere


# --- Security (secure by default when DEBUG is off; each switch is an env var) ----
# Behind a TLS-terminating proxy or load balancer, set SECURE_PROXY_SSL_HEADER=1 so
# Django trusts its X-Forwarded-Proto header (only when the proxy always sets it).

SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", not DEBUG)
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]  # load balancer probes may use plain HTTP
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", not DEBUG)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", not DEBUG)
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", not DEBUG)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", not DEBUG)
if env_bool("SECURE_PROXY_SSL_HEADER", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django_htmx",
    "requests_app",
    "jobs",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "accessmgr.middleware.ApiLoginRequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]

ROOT_URLCONF = env_str("ROOT_URLCONF", "accessmgr.urls")  # bench/ serves its own URLconf (bench/urls.py)
WSGI_APPLICATION = "accessmgr.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]


# --- Database -------------------------------------------------------------
# DATABASE_URL: sqlite:///path, postgres://user@host:5432/name, or mssqlms://user:pw@host:1433/name
# (dj-database-url maps mssql:// to an old, different engine; mssqlms:// selects mssql-django).

DATABASE_URL = env_str("DATABASE_URL") or f"sqlite:///{VAR_DIR / 'accessmgr.sqlite3'}"
DB_POOL_MAX_SIZE = env_int("DB_POOL_MAX_SIZE", 20, minimum=1)
try:
    _db = dj_database_url.parse(DATABASE_URL)
except Exception as exc:  # dj-database-url raises several types for a bad URL
    raise ImproperlyConfigured(f"DATABASE_URL is not a valid database URL: {exc}") from None

if _db["ENGINE"] == "django.db.backends.sqlite3":
    # Several threads and processes write (job workers, two servers in tests): WAL lets
    # readers run beside a writer, the busy timeout waits instead of failing, and
    # IMMEDIATE transactions take the write lock up front so they never deadlock on upgrade.
    _db["OPTIONS"] = {
        "timeout": 30,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    _db["TEST"] = {"NAME": env_str("DATABASE_TEST_NAME") or str(VAR_DIR / "test.sqlite3")}
elif _db["ENGINE"] == "django.db.backends.postgresql":
    # Django's built-in psycopg pool: job worker threads borrow from it, so the number of
    # connections is bounded by DB_POOL_MAX_SIZE, not by the number of tasks.
    # A request (or /healthz) waits at most DB_POOL_TIMEOUT for a connection, then fails.
    if DB_POOL_MAX_SIZE < 4:
        raise ImproperlyConfigured(
            f"DB_POOL_MAX_SIZE must be at least 4 on PostgreSQL, got {DB_POOL_MAX_SIZE}: a job run holds "
            "three (its own thread, its heartbeat, its recorder) and pages need one"
        )
    _db["OPTIONS"] = {
        "pool": {
            "min_size": 1,
            "max_size": DB_POOL_MAX_SIZE,
            "timeout": env_float("DB_POOL_TIMEOUT", 10, minimum=0.1),
        }
    }
    _db["TEST"] = {"NAME": env_str("DATABASE_TEST_NAME") or None}
elif _db["ENGINE"] == "mssql":
    _db["OPTIONS"] = {
        "driver": env_str("MSSQL_DRIVER", "ODBC Driver 18 for SQL Server"),
        "extra_params": env_str("MSSQL_EXTRA_PARAMS", "Encrypt=yes;TrustServerCertificate=no"),
    }
    if env_bool("MSSQL_PYTHON_DRIVER", False):
        _db["OPTIONS"]["python_driver"] = "mssql-python"
    _db["TEST"] = {"NAME": env_str("DATABASE_TEST_NAME") or None}
if _db["ENGINE"] != "django.db.backends.postgresql":
    # Keep a connection per server thread instead of opening one per request (SQLite's
    # connect + PRAGMAs cost ~1 ms); PostgreSQL uses its pool instead, which excludes this.
    _db["CONN_MAX_AGE"] = env_int("DB_CONN_MAX_AGE", 60)
    _db["CONN_HEALTH_CHECKS"] = True
DATABASES = {"default": _db}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"


# --- Auth -------------------------------------------------------------------

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# Password hashers, strongest first. The test suite sets a fast one (tests/testenv.py): the
# default PBKDF2 costs ~0.3 s per user created. Never set a weak hasher in production.
if env_list("PASSWORD_HASHERS"):
    PASSWORD_HASHERS = env_list("PASSWORD_HASHERS")
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "jobs.auth.StaffRunsJobsBackend",  # staff may run the jobs
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "requests_app:all_requests"
LOGOUT_REDIRECT_URL = "login"


# --- Time and display ---------------------------------------------------------

LANGUAGE_CODE = "en-us"
USE_I18N = False
USE_TZ = True  # everything is stored in UTC
TIME_ZONE = env_str("TIME_ZONE", "UTC")  # for display only


# --- Static files ---------------------------------------------------------------

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(env_str("STATIC_ROOT") or BASE_DIR / "staticfiles")
# Hashed, compressed names (whitenoise) need `collectstatic` first; `make serve` runs it.
# STATICFILES_MANIFEST=0 serves plain names without a manifest (the test suite sets it).
STATICFILES_MANIFEST = env_bool("STATICFILES_MANIFEST", not DEBUG)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if STATICFILES_MANIFEST
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}


# --- Email ---------------------------------------------------------------------
# Development: a file outbox under var/ so a person can open what was sent.
# Production: SMTP with EMAIL_HOST etc. Tests: Django switches to locmem by itself.

EMAIL_BACKEND = env_str(
    "EMAIL_BACKEND",
    "django.core.mail.backends.filebased.EmailBackend"
    if DEBUG
    else "django.core.mail.backends.smtp.EmailBackend",
)
EMAIL_FILE_PATH = env_str("EMAIL_FILE_PATH") or str(VAR_DIR / "outbox")
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
EMAIL_USE_SSL = env_bool("EMAIL_USE_SSL", False)
EMAIL_TIMEOUT = env_float("EMAIL_TIMEOUT", 30, minimum=0.01)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "accessmgr <accessmgr@localhost>")


# --- Jobs -----------------------------------------------------------------------

SERVER_NAME = env_str("SERVER_NAME") or socket.gethostname()
JOB_HEARTBEAT_SECONDS = env_float("JOB_HEARTBEAT_SECONDS", 30, minimum=0.05)
JOB_STALE_AFTER_SECONDS = env_float("JOB_STALE_AFTER_SECONDS", 600, minimum=0.1)
if JOB_HEARTBEAT_SECONDS * 2 > JOB_STALE_AFTER_SECONDS:
    raise ImproperlyConfigured(
        "JOB_HEARTBEAT_SECONDS must be at most half of JOB_STALE_AFTER_SECONDS "
        f"(got {JOB_HEARTBEAT_SECONDS} and {JOB_STALE_AFTER_SECONDS}); otherwise a healthy "
        "run could be taken over between two heartbeats"
    )
# The lease (docs/locking.md): a run starts no send and no write later than
# JOB_STALE_AFTER_SECONDS - JOB_LEASE_MARGIN_SECONDS after its last confirmed heartbeat was sent,
# so whatever it started before must end within the margin. None: a quarter of the stale limit.
JOB_LEASE_MARGIN_SECONDS = env_float("JOB_LEASE_MARGIN_SECONDS", 0, minimum=0) or None
JOB_STATEMENT_TIMEOUT_SECONDS = env_float("JOB_STATEMENT_TIMEOUT_SECONDS", 10, minimum=0.01)
_margin = JOB_LEASE_MARGIN_SECONDS or JOB_STALE_AFTER_SECONDS / 4
for _name, _bound in (
    ("EMAIL_TIMEOUT", EMAIL_TIMEOUT),
    ("JOB_STATEMENT_TIMEOUT_SECONDS", JOB_STATEMENT_TIMEOUT_SECONDS),
):
    if _bound >= _margin:
        raise ImproperlyConfigured(
            f"{_name} ({_bound:g} s) must be shorter than JOB_LEASE_MARGIN_SECONDS ({_margin:g} s; "
            "default a quarter of JOB_STALE_AFTER_SECONDS): a job starts no send or heartbeat later "
            "than that margin before another server could take its lock over, so one started just "
            "before must end within it"
        )
if JOB_STALE_AFTER_SECONDS - _margin <= JOB_HEARTBEAT_SECONDS:
    raise ImproperlyConfigured(
        f"JOB_STALE_AFTER_SECONDS - JOB_LEASE_MARGIN_SECONDS ({JOB_STALE_AFTER_SECONDS - _margin:g} s) "
        f"must be longer than JOB_HEARTBEAT_SECONDS ({JOB_HEARTBEAT_SECONDS:g} s): otherwise a healthy "
        "run's lease would end between two heartbeats"
    )
REVOKE_DELAY_SECONDS = env_float("REVOKE_DELAY_SECONDS", 15)
REVOKE_CHUNK_SIZE = env_int("REVOKE_CHUNK_SIZE", 0)  # 0: the database's own (jobs.revoke.revoke_chunk_ids)
NOTIFY_SEND_DELAY_SECONDS = env_float("NOTIFY_SEND_DELAY_SECONDS", 10)
NOTIFY_MAX_WORKERS = env_int("NOTIFY_MAX_WORKERS", 16, minimum=1)
# Senders use no database connection; one recorder thread writes the sent reminders in batches.
NOTIFY_SMTP_CONNECTIONS = env_int("NOTIFY_SMTP_CONNECTIONS", 0) or None  # None: one per worker
NOTIFY_MAX_SENDS_PER_SECOND = env_float("NOTIFY_MAX_SENDS_PER_SECOND", 0) or None  # None: no cap
NOTIFY_RECORD_RETRY_SECONDS = env_float("NOTIFY_RECORD_RETRY_SECONDS", 0.2)
# All Requests: its Total/Active/Revoked counts reused for this long unless a request was created
# or revoked since (requests_app.selectors.access_request_list); 0 counts on every view.
REQUESTS_COUNTS_CACHE_SECONDS = env_float("REQUESTS_COUNTS_CACHE_SECONDS", 10)
try:
    REMINDER_DAYS = [int(d) for d in env_list("REMINDER_DAYS", "30,7")]
except ValueError:
    raise ImproperlyConfigured("REMINDER_DAYS must be comma-separated whole numbers, e.g. 30,7") from None
if not REMINDER_DAYS or sorted(set(REMINDER_DAYS), reverse=True) != REMINDER_DAYS or min(REMINDER_DAYS) < 0:
    raise ImproperlyConfigured("REMINDER_DAYS must be distinct, descending, non-negative days, e.g. 30,7")
TEST_MODE = env_bool("TEST_MODE", DEBUG)
JOB_POLL_SECONDS = env_int("JOB_POLL_SECONDS", 3, minimum=1)
LOCK_STATUS_CACHE_SECONDS = env_float("LOCK_STATUS_CACHE_SECONDS", 1)
if LOCK_STATUS_CACHE_SECONDS > JOB_POLL_SECONDS:
    raise ImproperlyConfigured(
        f"LOCK_STATUS_CACHE_SECONDS must be at most JOB_POLL_SECONDS (got {LOCK_STATUS_CACHE_SECONDS} "
        f"and {JOB_POLL_SECONDS}); otherwise a banner could lag more than a poll behind the lock"
    )


# --- Logging ---------------------------------------------------------------------

# One line per event on stderr. LOG_FORMAT=json (default with DEBUG off) writes one JSON
# object a line (time, level, logger, message and the record's extra fields) for a log
# collector; LOG_FORMAT=plain is for people.

LOG_LEVEL = env_str("LOG_LEVEL", "INFO").upper()
if LOG_LEVEL not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
    raise ImproperlyConfigured(
        f"LOG_LEVEL must be DEBUG, INFO, WARNING, ERROR or CRITICAL, got {LOG_LEVEL!r}"
    )
LOG_FORMAT = env_str("LOG_FORMAT", "plain" if DEBUG else "json").lower()
if LOG_FORMAT not in ("json", "plain"):
    raise ImproperlyConfigured(f"LOG_FORMAT must be json or plain, got {LOG_FORMAT!r}")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
        "json": {"()": "accessmgr.logging.JsonFormatter"},
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT}},
    "root": {"handlers": ["console"], "level": "WARNING"},
    "loggers": {
        "jobs": {"handlers": ["console"], "level": LOG_LEVEL, "propagate": False},
        "requests_app": {"handlers": ["console"], "level": LOG_LEVEL, "propagate": False},
        "accessmgr": {"handlers": ["console"], "level": LOG_LEVEL, "propagate": False},
    },
}
