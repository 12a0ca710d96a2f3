from urllib.parse import urlsplit

from django.contrib.auth.middleware import LoginRequiredMiddleware
from django.contrib.auth.views import redirect_to_login
from django.http import HttpResponse, JsonResponse
from django.utils.cache import patch_cache_control, patch_vary_headers
from django.utils.http import url_has_allowed_host_and_scheme


class ApiLoginRequiredMiddleware(LoginRequiredMiddleware):
    """Django's LoginRequiredMiddleware: nothing is anonymous unless marked
    @login_not_required. API paths answer 401 JSON instead of a redirect to login, and an
    HTMX request (the banner's poll, a panel refresh) whose session has expired sends the
    whole page to the login page (HX-Redirect) instead of swapping the login form into a
    fragment of it."""

    def process_view(self, request, view_func, view_args, view_kwargs):
        # Django reads the user (the session table) first; a view open to everyone is
        # decided without it, so /healthz and the login page work while the database is away.
        if not getattr(view_func, "login_required", True):
            return None
        return super().process_view(request, view_func, view_args, view_kwargs)

    def handle_no_permission(self, request, view_func):
        if request.path.startswith("/api/"):
            return JsonResponse({"message": "Authentication required."}, status=401)
        if request.headers.get("HX-Request") == "true":
            login = redirect_to_login(self._page_path(request), self.get_login_url(view_func))
            response = HttpResponse(status=401)
            response["HX-Redirect"] = login["Location"]
            return response
        return super().handle_no_permission(request, view_func)

    @staticmethod
    def _page_path(request) -> str:
        """Where to come back after logging in: the page the fragment belongs to."""
        current = request.headers.get("HX-Current-URL", "")
        if current and url_has_allowed_host_and_scheme(current, allowed_hosts={request.get_host()}):
            parts = urlsplit(current)
            return parts.path + (f"?{parts.query}" if parts.query else "")
        return "/"


class NoStoreMiddleware:
    """`Cache-Control: private, no-store` on every response that has no Cache-Control of its
    own: pages and API answers list people's emails and must not stay in a browser's cache
    after logout. Static files never get here (whitenoise answers them above)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if not response.has_header("Cache-Control"):
            patch_cache_control(response, private=True, no_store=True)
        return response


def vary_on_htmx_middleware(get_response):
    """Adds `Vary: HX-Request` to every response: a page URL answers HTMX with a fragment
    (a panel refresh, the login redirect) and a browser with the page, so a cache (the
    browser's, for Back) must keep the two apart. Above the login middleware in MIDDLEWARE,
    so its answers get it too."""

    def middleware(request):
        response = get_response(request)
        patch_vary_headers(response, ("HX-Request",))
        return response

    return middleware
