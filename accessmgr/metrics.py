"""GET /metrics for Prometheus: `Authorization: Bearer <METRICS_TOKEN>`. Without a token
setting it answers only with DEBUG on (403 otherwise); a wrong or missing token gets 401."""

from functools import wraps
from hmac import compare_digest

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.http import HttpResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from jobs.metrics import JobsCollector


def metrics_token_required(view):
    @wraps(view)
    def check(request, *args, **kwargs):
        token = settings.METRICS_TOKEN
        if not token:
            if settings.DEBUG:
                return view(request, *args, **kwargs)
            return HttpResponse(
                "Metrics are off: set METRICS_TOKEN.\n", status=403, content_type="text/plain"
            )
        given = request.headers.get("Authorization", "")
        if not compare_digest(given.encode(), f"Bearer {token}".encode()):
            response = HttpResponse(
                "A valid bearer token is required.\n", status=401, content_type="text/plain"
            )
            response["WWW-Authenticate"] = 'Bearer realm="metrics"'
            return response
        return view(request, *args, **kwargs)

    return check


@login_not_required
@never_cache
@require_safe
@metrics_token_required
def metrics(request):
    registry = CollectorRegistry()
    registry.register(JobsCollector())
    return HttpResponse(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)
