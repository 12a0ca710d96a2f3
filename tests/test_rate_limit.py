"""The create-request rate limit (CREATE_REQUEST_RATE, django-ratelimit): per user, the page
and the API counted together; past it a 429 (JSON on the API, the form with a message on the
page) and nothing is created. The counts are in the process's cache, cleared around each test."""

import socket

import pytest
from django.core.cache import cache
from django.urls import reverse

from requests_app.models import UserAccessRequest
from requests_app.throttle import rate_describe
from tests.conftest import IN_CI, django_start

LIST = reverse("requests_app:api_access_requests")
PAGE = reverse("requests_app:create_request")
BODY = {"resourceName": "Wiki", "duration": "30"}
FORM = {"resource_name": "Wiki", "duration": "30"}


@pytest.fixture
def two_per_month(settings):
    """At most 2 creates per user in a 30-day window (its edge is never reached in a test)."""
    settings.CREATE_REQUEST_RATE = "2/30d"
    cache.clear()
    yield
    cache.clear()


def _api(client):
    return client.post(LIST, BODY, content_type="application/json")


def test_the_api_answers_429_json_past_the_rate_and_creates_nothing(requester_client, two_per_month):
    assert [_api(requester_client).status_code for _ in range(2)] == [201, 201]
    refused = _api(requester_client)
    assert refused.status_code == 429
    assert refused["Content-Type"] == "application/json"
    message = refused.json()["message"]
    assert message.startswith("Too many requests created: at most 2 per 30 days. Try again in ")
    assert int(refused["Retry-After"]) > 0
    assert UserAccessRequest.objects.count() == 2


def test_the_page_answers_429_with_the_message_and_keeps_the_form(requester_client, two_per_month):
    for _ in range(2):
        assert requester_client.post(PAGE, FORM).status_code == 302
    refused = requester_client.post(PAGE, FORM)
    assert refused.status_code == 429
    html = refused.content.decode()
    assert "Too many requests created: at most 2 per 30 days." in html
    assert 'value="Wiki"' in html  # what was typed is still there
    assert UserAccessRequest.objects.count() == 2
    assert requester_client.get(PAGE).status_code == 200  # looking is not creating


def test_page_and_api_share_one_count_per_user(client, requester, user, two_per_month):
    client.force_login(requester)
    assert client.post(PAGE, FORM).status_code == 302
    assert _api(client).status_code == 201
    assert _api(client).status_code == 429
    client.force_login(user)  # another user has their own count
    other = client.post(
        LIST,
        {**BODY, "requestorName": "X", "requestorEmail": "x@example.com"},
        content_type="application/json",
    )
    assert other.status_code == 201


def test_invalid_attempts_count_too(requester_client, two_per_month):
    assert _api(requester_client).status_code == 201
    assert requester_client.post(LIST, {"duration": "7"}, content_type="application/json").status_code == 400
    assert _api(requester_client).status_code == 429


def test_an_empty_rate_is_no_limit(requester_client, settings):
    settings.CREATE_REQUEST_RATE = ""
    assert {_api(requester_client).status_code for _ in range(5)} == {201}


@pytest.mark.parametrize(
    ("rate", "text"), [("30/m", "30 per minute"), ("5/10s", "5 per 10 seconds"), ("1/1h", "1 per hour")]
)
def test_the_rate_reads_as_words(rate, text):
    assert rate_describe(rate) == text


def test_a_bad_rate_stops_start_up_naming_the_variable():
    result = django_start(CREATE_REQUEST_RATE="thirty a minute")
    assert result.returncode != 0
    assert "CREATE_REQUEST_RATE must be a count per period" in result.stderr


REDIS_URL = "redis://127.0.0.1:6379/13"  # a database of its own, emptied around each test


@pytest.fixture
def shared_counts(settings):
    """The counts in a real Redis (RATELIMIT_CACHE_URL's cache), at 2 creates per 30 days."""
    redis = pytest.importorskip("redis").Redis.from_url(REDIS_URL)
    try:
        redis.ping()
    except OSError as exc:
        if IN_CI:
            raise
        pytest.skip(f"needs Redis on 127.0.0.1:6379 ({exc})")
    redis.flushdb()
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
        "ratelimit": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "accessmgr",  # as accessmgr/settings.py names it, so both see one count
        },
    }
    settings.RATELIMIT_USE_CACHE = "ratelimit"
    settings.CREATE_REQUEST_RATE = "2/30d"
    yield redis
    redis.flushdb()


def test_with_a_shared_cache_creates_counted_by_another_process_count_here(
    requester_client, requester, shared_counts
):
    # Another server (a fresh process with the same settings) counts two creates of this user
    other = django_start(
        code=(
            "from types import SimpleNamespace; from django.test import RequestFactory; "
            "from requests_app.throttle import create_rate_check; "
            f"request = RequestFactory().post('/'); request.user = SimpleNamespace(pk={requester.pk}, is_authenticated=True); "
            "print([create_rate_check(request) is None for _ in range(2)])"
        ),
        RATELIMIT_CACHE_URL=REDIS_URL,
        CREATE_REQUEST_RATE="2/30d",
    )
    assert other.returncode == 0, other.stderr
    assert other.stdout.strip() == "[True, True]"
    assert shared_counts.dbsize() > 0  # the counts are in Redis, not in that process

    assert _api(requester_client).status_code == 429  # this server sees them
    assert UserAccessRequest.objects.count() == 0


def test_the_rate_limit_cache_must_be_a_redis_url():
    result = django_start(RATELIMIT_CACHE_URL="memcached://127.0.0.1:11211")
    assert result.returncode != 0
    assert "RATELIMIT_CACHE_URL must be a redis:// or rediss:// URL" in result.stderr


def test_a_shared_cache_that_is_away_limits_nothing_and_warns(requester_client, settings, caplog):
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
        "ratelimit": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{port}/0",
        },
    }
    settings.RATELIMIT_USE_CACHE = "ratelimit"
    settings.CREATE_REQUEST_RATE = "1/30d"

    assert [_api(requester_client).status_code for _ in range(2)] == [201, 201]
    assert "the rate-limit cache cannot be reached" in caplog.text
