"""Settings for accessmgr: one flat file, every knob read from the environment.

Each variable is documented once, with its default, in docs/configuration.md.
A bad value stops start-up with ImproperlyConfigured naming the variable.
"""

import os
import re
import socket
from datetime import timedelta
from pathlib import Path

import dj_database_url
from csp.constants import NONCE
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

# Content-Security-Policy (django-csp): scripts only from this site or with the page's nonce.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'", NONCE],
        "style-src": ["'self'", "'unsafe-inline'"],  # htmx's indicator style, the admin's style attributes
        "img-src": ["'self'", "data:"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}

# Request bodies: no view takes files, so uploaded files are never stored (memory or disk), and a
# body larger than DATA_UPLOAD_MAX_MEMORY_SIZE is refused with 400 (the JSON API answers 413).
DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("DATA_UPLOAD_MAX_MEMORY_SIZE", 2_621_440, minimum=1024)
FILE_UPLOAD_HANDLERS = ["accessmgr.uploads.RefuseFilesUploadHandler"]
# Error reports and the DEBUG page hide settings and environment values that look secret.
DEFAULT_EXCEPTION_REPORTER_FILTER = "accessmgr.debug.SecretsHiddenFilter"

INSTALLED_APPS = [
    "accessmgr.apps.AccessmgrConfig",  # deployment checks (accessmgr/checks.py)
    "accessmgr.apps.AdminConfig",  # django.contrib.admin with guarded list filters (accessmgr/admin.py)
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django_htmx",
    "axes",
    "requests_app",
    "jobs",
    "webhooks",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "accessmgr.middleware.NoStoreMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "accessmgr.middleware.vary_on_htmx_middleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "accessmgr.middleware.ApiLoginRequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "axes.middleware.AxesMiddleware",  # last: turns a lockout into the lockout page (429)
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
                "csp.context_processors.nonce",
            ],
        },
    },
]


# --- Database -------------------------------------------------------------
# DATABASE_URL: sqlite:///path, postgres://user@host:5432/name, or mssqlms://user:pw@host:1433/name
# (dj-database-url maps mssql:// to an old, different engine; mssqlms:// selects mssql-django).

# Lowercase on purpose: not a Django setting, so the debug page never lists the URL (and its password).
_database_url = env_str("DATABASE_URL") or f"sqlite:///{VAR_DIR / 'accessmgr.sqlite3'}"
DB_POOL_MAX_SIZE = env_int("DB_POOL_MAX_SIZE", 20, minimum=1)
try:
    _db = dj_database_url.parse(_database_url)
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
    # A request waits at most DB_POOL_TIMEOUT for a connection, then fails (503).
    # accessmgr.postgresql is Django's backend whose pool tests a connection (one empty
    # query) before handing it out, and sweeps the idle ones when it finds a broken one (a
    # database restart or a network reset), so no request gets a dead connection.
    _db["ENGINE"] = "accessmgr.postgresql"
    if DB_POOL_MAX_SIZE < 4:
        raise ImproperlyConfigured(
            f"DB_POOL_MAX_SIZE must be at least 4 on PostgreSQL, got {DB_POOL_MAX_SIZE}: a notification run "
            "holds three (its own thread, its heartbeat, its recorder; the senders hold none) and pages need one"
        )
    _db["OPTIONS"] = {
        **_db.get("OPTIONS", {}),
        "connect_timeout": env_int("DB_CONNECT_TIMEOUT", 5, minimum=2),
        "pool": {
            "min_size": 1,
            "max_size": DB_POOL_MAX_SIZE,
            "timeout": env_float("DB_POOL_TIMEOUT", 10, minimum=0.1),
        },
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
if _db["ENGINE"] != "accessmgr.postgresql":
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
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "requests_app:all_requests"
LOGOUT_REDIRECT_URL = "login"

# Password login (/login/ and /admin/login/): on for development and as an option next to SSO.
# PASSWORD_LOGIN=0 leaves only single sign-on: the login page offers SSO, password POSTs get 403.
PASSWORD_LOGIN = env_bool("PASSWORD_LOGIN", True)

# Single sign-on with OpenID Connect (mozilla-django-oidc, accessmgr/sso.py). On when OIDC_ISSUER
# is set; the endpoints and keys come from its discovery document, fetched on first use.
OIDC_ISSUER = env_str("OIDC_ISSUER").rstrip("/")
OIDC_RP_CLIENT_ID = env_str("OIDC_CLIENT_ID")
OIDC_RP_CLIENT_SECRET = env_str("OIDC_CLIENT_SECRET")
OIDC_RP_SIGN_ALGO = env_str("OIDC_SIGN_ALGO", "RS256")
OIDC_RP_SCOPES = env_str("OIDC_SCOPES", "openid email profile")
OIDC_EMAIL_CLAIM = env_str("OIDC_EMAIL_CLAIM", "email")
OIDC_GROUPS_CLAIM = env_str("OIDC_GROUPS_CLAIM")  # empty: staff and job permissions are set in the admin
OIDC_STAFF_GROUPS = env_list("OIDC_STAFF_GROUPS")
OIDC_REVOKE_JOB_GROUPS = env_list("OIDC_REVOKE_JOB_GROUPS")
OIDC_NOTIFICATION_JOB_GROUPS = env_list("OIDC_NOTIFICATION_JOB_GROUPS")
OIDC_TIMEOUT = env_float("OIDC_TIMEOUT", 10, minimum=0.1)
OIDC_USE_PKCE = True
SSO_ENABLED = bool(OIDC_ISSUER)
if SSO_ENABLED and not (OIDC_RP_CLIENT_ID and OIDC_RP_CLIENT_SECRET):
    raise ImproperlyConfigured("OIDC_ISSUER is set: OIDC_CLIENT_ID and OIDC_CLIENT_SECRET must be set too")
if not PASSWORD_LOGIN and not SSO_ENABLED:
    raise ImproperlyConfigured("PASSWORD_LOGIN=0 needs single sign-on: set OIDC_ISSUER (nobody could log in)")

AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",  # first: refuses a locked-out user and IP before any check
    # Passwords, and everyone's permissions; with PASSWORD_LOGIN=0 permissions only.
    "django.contrib.auth.backends.ModelBackend"
    if PASSWORD_LOGIN
    else "accessmgr.auth.PermissionsOnlyBackend",
    "jobs.auth.StaffRunsJobsBackend",  # staff may run the jobs
    "requests_app.auth.StaffRequestsBackend",  # staff may extend, revoke, create for anyone, view all
    "accessmgr.sso.OidcBackend",  # answers only the SSO callback, and only when SSO_ENABLED
]

# Login throttling (django-axes): LOGIN_FAILURE_LIMIT wrong passwords for one username from one
# client IP lock that pair out for LOGIN_COOLOFF_SECONDS (the lockout page answers 429); a
# success before then resets the count. Lockouts are listed in the admin (Axes: Access attempts).
AXES_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 10, minimum=1)
AXES_COOLOFF_TIME = timedelta(seconds=env_float("LOGIN_COOLOFF_SECONDS", 900, minimum=1))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "accessmgr.auth.locked_out"
AXES_CLIENT_IP_CALLABLE = "accessmgr.auth.client_ip"
AXES_VERBOSE = False
# Behind N proxies that each append to X-Forwarded-For, the client is the Nth address from the right.
TRUSTED_PROXY_COUNT = env_int("TRUSTED_PROXY_COUNT", 0)

# Creating requests (requests_app/throttle.py, django-ratelimit): at most N per period per user,
# page and API together, e.g. 30/m, 500/h, 1000/d; empty: no limit. Over it: 429. The counts are
# in the default cache, which is per process, unless RATELIMIT_CACHE_URL names a Redis server that
# every server shares (redis://host:6379/0; docs/deploy.md#rate-limits).
_ratelimit_cache_url = env_str("RATELIMIT_CACHE_URL").strip()  # not a setting: it may carry a password
if _ratelimit_cache_url:
    if not _ratelimit_cache_url.startswith(("redis://", "rediss://", "unix://")):
        raise ImproperlyConfigured(
            f"RATELIMIT_CACHE_URL must be a redis:// or rediss:// URL, got {_ratelimit_cache_url.split('@')[-1]!r}"
        )
    CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
        "ratelimit": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": _ratelimit_cache_url,
            "KEY_PREFIX": "accessmgr",
            "OPTIONS": {"socket_connect_timeout": 2, "socket_timeout": 2},
        },
    }
    RATELIMIT_USE_CACHE = "ratelimit"
CREATE_REQUEST_RATE = env_str("CREATE_REQUEST_RATE", "30/m").strip()
_rate = re.fullmatch(r"([1-9][0-9]*)/([1-9][0-9]*)?([smhd])", CREATE_REQUEST_RATE)
if CREATE_REQUEST_RATE and not _rate:
    raise ImproperlyConfigured(
        f"CREATE_REQUEST_RATE must be a count per period such as 30/m, 500/h or 5/10s, got {CREATE_REQUEST_RATE!r}"
    )


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
EMAIL_TIMEOUT = env_float("EMAIL_TIMEOUT", 0, minimum=0) or None  # None: fitted to the job lease below
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "accessmgr <accessmgr@localhost>")
# The address people use to reach accessmgr, for the links in emails.
SITE_URL = env_str("SITE_URL", "http://localhost:8000").rstrip("/")
if not re.fullmatch(r"https?://[^/\s?#]+(/[^\s?#]*)?", SITE_URL):
    raise ImproperlyConfigured(
        f"SITE_URL must be an absolute http(s) URL such as https://access.example.com, got {SITE_URL!r}"
    )


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
# A run that stalls inside a transaction holds row locks a takeover must wait for. On
# PostgreSQL every connection (a job run from a page shares the request pool, so they cannot
# be told apart) is started with two limits, in libpq's `options`, set at connect time and
# kept across pool reuse: the server ends a session idle in a transaction for half the stale
# window, and no statement waits for a lock longer than the stale window. So a stalled holder
# delays a takeover by at most half the window. SQL Server: jobs.dialects.Dialect.session_setup_sql.
DB_LOCK_TIMEOUT_MS = int(JOB_STALE_AFTER_SECONDS * 1000)
DB_IDLE_IN_TRANSACTION_TIMEOUT_MS = int(JOB_STALE_AFTER_SECONDS * 500)
if DATABASES["default"]["ENGINE"] == "accessmgr.postgresql":
    _options = DATABASES["default"]["OPTIONS"]
    _options["options"] = (
        f"{_options.get('options', '')} -c lock_timeout={DB_LOCK_TIMEOUT_MS} "
        f"-c idle_in_transaction_session_timeout={DB_IDLE_IN_TRANSACTION_TIMEOUT_MS}"
    ).strip()
# The lease (docs/locking.md): a run starts no send and no write later than
# JOB_STALE_AFTER_SECONDS - JOB_LEASE_MARGIN_SECONDS after its last confirmed heartbeat was sent,
# so whatever it started before must end within the margin: an SMTP conversation within
# EMAIL_TIMEOUT, a heartbeat or record statement within JOB_STATEMENT_TIMEOUT_SECONDS.
# Unset, the margin is a quarter of the stale limit and both timeouts fit inside it (at most
# 30 s and 10 s); set, they are checked here.
JOB_LEASE_MARGIN_SECONDS = env_float("JOB_LEASE_MARGIN_SECONDS", 0, minimum=0) or None
_margin = JOB_LEASE_MARGIN_SECONDS or JOB_STALE_AFTER_SECONDS / 4
JOB_STATEMENT_TIMEOUT_SECONDS = env_float("JOB_STATEMENT_TIMEOUT_SECONDS", 0, minimum=0) or min(
    10.0, _margin / 2
)
EMAIL_TIMEOUT = EMAIL_TIMEOUT or min(30.0, _margin / 2)
for _name, _bound in (
    ("EMAIL_TIMEOUT", EMAIL_TIMEOUT),
    ("JOB_STATEMENT_TIMEOUT_SECONDS", JOB_STATEMENT_TIMEOUT_SECONDS),
):
    if _bound >= _margin:
        raise ImproperlyConfigured(
            f"{_name} ({_bound:g} s) must be shorter than JOB_LEASE_MARGIN_SECONDS "
            f"({_margin:g} s; default a quarter of JOB_STALE_AFTER_SECONDS): a job starts "
            "no send or heartbeat later than that margin before another server could take its lock over, "
            "so one started just before must end within it"
        )
if JOB_STALE_AFTER_SECONDS - _margin <= JOB_HEARTBEAT_SECONDS:
    raise ImproperlyConfigured(
        "JOB_STALE_AFTER_SECONDS - JOB_LEASE_MARGIN_SECONDS "
        f"({JOB_STALE_AFTER_SECONDS - _margin:g} s) must be longer than "
        f"JOB_HEARTBEAT_SECONDS ({JOB_HEARTBEAT_SECONDS:g} s): otherwise a healthy run's lease would end "
        "between two heartbeats"
    )
# django-anymail, for EMAIL_BACKEND=anymail.backends.<provider>.EmailBackend: its settings from
# the ANYMAIL_<NAME> variables (ANYMAIL_POSTMARK_SERVER_TOKEN → ANYMAIL["POSTMARK_SERVER_TOKEN"]),
# and its HTTP calls bounded by EMAIL_TIMEOUT like an SMTP send (docs/notifications.md).
ANYMAIL = {
    name.removeprefix("ANYMAIL_"): value for name, value in os.environ.items() if name.startswith("ANYMAIL_")
}
ANYMAIL["REQUESTS_TIMEOUT"] = EMAIL_TIMEOUT
REVOKE_DELAY_SECONDS = env_float("REVOKE_DELAY_SECONDS", 15)
REVOKE_CHUNK_SIZE = env_int("REVOKE_CHUNK_SIZE", 0)  # 0: the database's own (jobs.revoke.revoke_chunk_ids)
NOTIFY_SEND_DELAY_SECONDS = env_float("NOTIFY_SEND_DELAY_SECONDS", 10)
NOTIFY_MAX_WORKERS = env_int("NOTIFY_MAX_WORKERS", 16, minimum=1)
# Senders use no database connection; one recorder thread writes the sent notices in batches
# (jobs/sending.py). Each sender keeps one SMTP connection, at most NOTIFY_SMTP_CONNECTIONS at
# once (default: one per worker); NOTIFY_MAX_SENDS_PER_SECOND caps the rate (default: no cap).
NOTIFY_SMTP_CONNECTIONS = env_int("NOTIFY_SMTP_CONNECTIONS", 0, minimum=0) or None
NOTIFY_MAX_SENDS_PER_SECOND = env_float("NOTIFY_MAX_SENDS_PER_SECOND", 0, minimum=0) or None
NOTIFY_RECORD_RETRY_SECONDS = env_float("NOTIFY_RECORD_RETRY_SECONDS", 0.2, minimum=0)
# A run's sender threads are kept this long for the next run of the process (0: a pool per run).
NOTIFY_POOL_KEEP_SECONDS = env_float("NOTIFY_POOL_KEEP_SECONDS", 300, minimum=0)
# The interpreter's thread switch interval while sends run (0: leave it). A thousand threads
# waiting for the GIL each wake every interval to ask for it: docs/notifications.md.
NOTIFY_SWITCH_INTERVAL_SECONDS = env_float("NOTIFY_SWITCH_INTERVAL_SECONDS", 0.05, minimum=0)
# A notice claimed by a run that ended without recording it may have gone out. "hold": it
# counts as sent (at most once); "resend": the next run sends it again (at least once, same
# Message-ID). docs/notifications.md.
NOTIFY_IN_DOUBT = env_str("NOTIFY_IN_DOUBT", "hold").lower()
if NOTIFY_IN_DOUBT not in ("hold", "resend"):
    raise ImproperlyConfigured(f"NOTIFY_IN_DOUBT must be hold or resend, got {NOTIFY_IN_DOUBT!r}")
REQUESTS_COUNTS_CACHE_SECONDS = env_float("REQUESTS_COUNTS_CACHE_SECONDS", 10)
try:
    REMINDER_DAYS = [int(d) for d in env_list("REMINDER_DAYS", "30,7")]
except ValueError:
    raise ImproperlyConfigured("REMINDER_DAYS must be comma-separated whole numbers, e.g. 30,7") from None
if not REMINDER_DAYS or sorted(set(REMINDER_DAYS), reverse=True) != REMINDER_DAYS or min(REMINDER_DAYS) < 0:
    raise ImproperlyConfigured("REMINDER_DAYS must be distinct, descending, non-negative days, e.g. 30,7")
TEST_MODE = env_bool("TEST_MODE", DEBUG)
JOB_POLL_SECONDS = env_int("JOB_POLL_SECONDS", 3, minimum=1)
# /healthz answers 503 when its `SELECT 1` has not answered within this (a stalled database).
HEALTHZ_TIMEOUT_SECONDS = env_float("HEALTHZ_TIMEOUT_SECONDS", 5, minimum=0.1)
LOCK_STATUS_CACHE_SECONDS = env_float("LOCK_STATUS_CACHE_SECONDS", 1)
if LOCK_STATUS_CACHE_SECONDS > JOB_POLL_SECONDS:
    raise ImproperlyConfigured(
        f"LOCK_STATUS_CACHE_SECONDS must be at most JOB_POLL_SECONDS (got {LOCK_STATUS_CACHE_SECONDS} "
        f"and {JOB_POLL_SECONDS}); otherwise a banner could lag more than a poll behind the lock"
    )


# --- Schedules, monitoring, retention (run_scheduler, /metrics, /healthz?jobs=1; docs/operations.md)


def env_schedule(name: str, zone: str, default: str = "") -> str:
    """A job schedule (jobs.schedule): a 5-field cron expression, `@every 5s`, or empty (off)."""
    from jobs.schedule import schedule_parse

    value = env_str(name, default).strip()
    try:
        schedule_parse(value, zone=zone)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name}: {exc}") from None
    return value


SCHEDULE_TIME_ZONE = env_str("SCHEDULE_TIME_ZONE", "UTC")
REVOKE_SCHEDULE = env_schedule("REVOKE_SCHEDULE", SCHEDULE_TIME_ZONE)
NOTIFY_SCHEDULE = env_schedule("NOTIFY_SCHEDULE", SCHEDULE_TIME_ZONE)
DELIVER_SCHEDULE = env_schedule("DELIVER_SCHEDULE", SCHEDULE_TIME_ZONE)  # webhook deliveries (deliver_events)
# 0: twice the schedule's period (unchecked without a schedule).
REVOKE_MAX_AGE_SECONDS = env_float("REVOKE_MAX_AGE_SECONDS", 0)
NOTIFY_MAX_AGE_SECONDS = env_float("NOTIFY_MAX_AGE_SECONDS", 0)
HISTORY_RETENTION_DAYS = env_float("HISTORY_RETENTION_DAYS", 90)  # 0 = keep for ever
HISTORY_PRUNE_SCHEDULE = env_schedule("HISTORY_PRUNE_SCHEDULE", SCHEDULE_TIME_ZONE, "0 3 * * *")
METRICS_TOKEN = env_str("METRICS_TOKEN")  # without it /metrics is refused unless DEBUG is on
# --- Webhooks (docs/webhooks.md) --------------------------------------------------

WEBHOOK_MAX_WORKERS = env_int("WEBHOOK_MAX_WORKERS", 8, minimum=1)
WEBHOOK_TIMEOUT_SECONDS = env_float("WEBHOOK_TIMEOUT_SECONDS", 10, minimum=0.01)
WEBHOOK_RESPONSE_MAX_BYTES = env_int("WEBHOOK_RESPONSE_MAX_BYTES", 1000, minimum=0)
WEBHOOK_ALLOW_PRIVATE_NETWORKS = env_bool("WEBHOOK_ALLOW_PRIVATE_NETWORKS", DEBUG)
# Deliver right after a change commits (webhooks/trigger.py), the schedule as the safety net.
WEBHOOK_DELIVER_ON_COMMIT = env_bool("WEBHOOK_DELIVER_ON_COMMIT", True)
try:
    # The wait before each retry; after the last one fails the delivery is dead.
    WEBHOOK_RETRY_SECONDS = [float(s) for s in env_list("WEBHOOK_RETRY_SECONDS", "30,120,600,3600,21600")]
except ValueError:
    raise ImproperlyConfigured(
        "WEBHOOK_RETRY_SECONDS must be comma-separated seconds, e.g. 30,120,600,3600,21600"
    ) from None
if any(s < 0 for s in WEBHOOK_RETRY_SECONDS):
    raise ImproperlyConfigured("WEBHOOK_RETRY_SECONDS must not be negative")


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
    "filters": {
        "client_errors": {"()": "accessmgr.logging.ClientErrorsAsWarnings"},
        "context": {"()": "accessmgr.logging.ContextFilter"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": LOG_FORMAT,
            "filters": ["client_errors", "context"],
        }
    },
    "root": {"handlers": ["console"], "level": "WARNING"},
    "loggers": {
        "jobs": {"handlers": ["console"], "level": LOG_LEVEL, "propagate": False},
        "requests_app": {"handlers": ["console"], "level": LOG_LEVEL, "propagate": False},
        "accessmgr": {"handlers": ["console"], "level": LOG_LEVEL, "propagate": False},
        "webhooks": {"handlers": ["console"], "level": LOG_LEVEL, "propagate": False},
    },
}
