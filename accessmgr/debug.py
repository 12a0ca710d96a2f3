"""DEFAULT_EXCEPTION_REPORTER_FILTER: what the DEBUG page and error reports hide."""

import re

from django.views.debug import SafeExceptionReporterFilter


class SecretsHiddenFilter(SafeExceptionReporterFilter):
    """Django's filter, also hiding database URLs, which carry a password: DATABASE_URL in the
    environment that runserver copies into request.META."""

    hidden_settings = re.compile(
        SafeExceptionReporterFilter.hidden_settings.pattern + "|DATABASE_URL|DSN", flags=re.I
    )
