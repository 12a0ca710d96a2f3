"""The bench's URLconf (ROOT_URLCONF=bench.urls, set by the bench only): the app's URLs
plus /bench/hello, a bare Django view that is the baseline for the poll endpoint's
requests per second under the same gunicorn and middleware."""

from django.contrib.auth.decorators import login_not_required
from django.http import HttpResponse
from django.urls import path
from django.views.decorators.http import require_safe

from accessmgr.urls import urlpatterns as app_urlpatterns


@login_not_required
@require_safe
def hello(request):
    return HttpResponse("hello", content_type="text/plain")


urlpatterns = [path("bench/hello", hello, name="bench_hello"), *app_urlpatterns]
