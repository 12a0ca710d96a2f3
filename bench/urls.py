"""The bench's URLconf (ROOT_URLCONF=bench.urls, set by the bench only): the app's URLs
plus two bare Django views served by the same gunicorn and middleware:

- /bench/hello needs a login, like every page: Django reads the session and the user and
  nothing else. It is the baseline of the poll endpoints' requests per second.
- /bench/hello-open is open to everyone: the middleware decides it without the session
  (accessmgr.middleware.ApiLoginRequiredMiddleware), the floor of any request.
"""

from django.contrib.auth.decorators import login_not_required
from django.http import HttpResponse
from django.urls import path
from django.views.decorators.http import require_safe

from accessmgr.urls import urlpatterns as app_urlpatterns


@require_safe
def hello(request):
    return HttpResponse(f"hello {request.user.pk}", content_type="text/plain")


@login_not_required
@require_safe
def hello_open(request):
    return HttpResponse("hello", content_type="text/plain")


urlpatterns = [
    path("bench/hello", hello, name="bench_hello"),
    path("bench/hello-open", hello_open, name="bench_hello_open"),
    *app_urlpatterns,
]
