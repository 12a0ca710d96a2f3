"""DEFAULT_EXCEPTION_REPORTER_FILTER: what the DEBUG page and error reports hide."""

import re

from django.views.debug import SafeExceptionReporterFilter


class SecretsHiddenFilter(SafeExceptionReporterFilter):
    """Django's filter, also hiding URLs that carry a password: DATABASE_URL and
    RATELIMIT_CACHE_URL in the environment that runserver copies into request.META, and the
    caches' LOCATION."""

    hidden_settings = re.compile(
        SafeExceptionReporterFilter.hidden_settings.pattern + "|DATABASE_URL|CACHE_URL|LOCATION|DSN",
        flags=re.I,
    )
