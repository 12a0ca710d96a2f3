"""The create-request rate limit (django-ratelimit): at most CREATE_REQUEST_RATE creates per
user, the Create Request page and POST /api/access-requests counted together. The counts live
in Django's default cache (per process), or in Redis with RATELIMIT_CACHE_URL (shared by every
server; docs/deploy.md#rate-limits)."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from django.conf import settings
from django.http import HttpRequest
from django_ratelimit.core import get_usage

try:
    from redis.exceptions import RedisError
except ImportError:  # redis is only needed with RATELIMIT_CACHE_URL
    RedisError = OSError

logger = logging.getLogger(__name__)

GROUP = "requests_app.create"
_UNITS = {"s": "second", "m": "minute", "h": "hour", "d": "day"}


@dataclass(frozen=True)
class RateExceeded:
    """A refused create: the message for the user and the seconds until the window ends."""

    message: str
    retry_after: int


def create_rate_check(request: HttpRequest) -> RateExceeded | None:
    """Count this create attempt for request.user; a RateExceeded when it is over the rate,
    None otherwise (or when CREATE_REQUEST_RATE is empty: no limit). A shared cache that cannot
    be reached limits nothing: the create goes ahead and a warning is logged."""
    rate = settings.CREATE_REQUEST_RATE
    if not rate:
        return None
    try:
        usage = get_usage(request, group=GROUP, key="user", rate=rate, increment=True)
    except (RedisError, OSError):
        logger.warning("the rate-limit cache cannot be reached: this create is not counted", exc_info=True)
        return None
    if usage is None or not usage["should_limit"]:
        return None
    wait = max(1, usage["time_left"])
    return RateExceeded(
        f"Too many requests created: at most {rate_describe(rate)}. Try again in {wait} seconds.", wait
    )


def rate_describe(rate: str) -> str:
    """ "30/m" → "30 per minute", "5/10s" → "5 per 10 seconds" (a CREATE_REQUEST_RATE value)."""
    count, _, per = rate.partition("/")
    multiple, unit = per[:-1], _UNITS[per[-1]]
    return f"{count} per {multiple} {unit}s" if multiple and multiple != "1" else f"{count} per {unit}"
