from urllib.parse import urlsplit

from django.contrib.auth.middleware import LoginRequiredMiddleware
from django.contrib.auth.views import redirect_to_login
from django.http import HttpResponse, JsonResponse
from django.utils.cache import patch_vary_headers
from django.utils.http import url_has_allowed_host_and_scheme


class ApiLoginRequiredMiddleware(LoginRequiredMiddleware):
    """Django's LoginRequiredMiddleware: nothing is anonymous unless marked
    @login_not_required. API paths answer 401 JSON instead of a redirect to login, and an
    HTMX request (the banner's poll, a panel refresh) whose session has expired sends the
    whole page to the login page (HX-Redirect) instead of swapping the login form into a
    fragment of it."""

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
