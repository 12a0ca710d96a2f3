"""The create-request rate limit (django-ratelimit): at most CREATE_REQUEST_RATE creates per
user, the Create Request page and POST /api/access-requests counted together. The counts live
in Django's default cache (docs/deploy.md: per process unless the cache is shared)."""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.http import HttpRequest
from django_ratelimit.core import get_usage

GROUP = "requests_app.create"
_UNITS = {"s": "second", "m": "minute", "h": "hour", "d": "day"}


@dataclass(frozen=True)
class RateExceeded:
    """A refused create: the message for the user and the seconds until the window ends."""

    message: str
    retry_after: int


def create_rate_check(request: HttpRequest) -> RateExceeded | None:
    """Count this create attempt for request.user; a RateExceeded when it is over the rate,
    None otherwise (or when CREATE_REQUEST_RATE is empty: no limit)."""
    rate = settings.CREATE_REQUEST_RATE
    if not rate:
        return None
    usage = get_usage(request, group=GROUP, key="user", rate=rate, increment=True)
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
