"""The admin site: Django's, with two guards on every admin view's query string and the
login form following PASSWORD_LOGIN."""

from datetime import MAXYEAR
from functools import wraps

from django.conf import settings
from django.contrib import admin
from django.contrib.auth.decorators import login_not_required
from django.contrib.auth.views import redirect_to_login
from django.http import HttpResponseBadRequest
from django.urls import reverse

from accessmgr.auth import password_login_refused


def bad_query_parameter(request) -> str | None:
    """Why the query string would make a change list fail (500), or None.

    A NUL byte: PostgreSQL refuses it in any text parameter. A date-hierarchy year of 9999:
    Django 5.2 computes the next year's start for it (datetime overflow)."""
    for key, values in request.GET.lists():
        if "\x00" in key or any("\x00" in v for v in values):
            return "Query parameters cannot contain NUL characters."
        if key.endswith("__year"):
            for value in values:
                if not value.isdigit() or not 1 <= int(value) < MAXYEAR:
                    return f"{key} must be a year from 1 to {MAXYEAR - 1}."
    return None


class AdminSite(admin.AdminSite):
    def admin_view(self, view, cacheable=False):
        inner = super().admin_view(view, cacheable)

        @wraps(inner)  # keeps what the middleware reads (login_required, csrf_exempt)
        def guarded(request, *args, **kwargs):
            problem = bad_query_parameter(request)
            if problem:
                return HttpResponseBadRequest(problem, content_type="text/plain; charset=utf-8")
            return inner(request, *args, **kwargs)

        return guarded

    @login_not_required
    def login(self, request, extra_context=None):
        """With PASSWORD_LOGIN=0 the admin sends people to the single sign-on login page."""
        if not settings.PASSWORD_LOGIN:
            if request.method == "POST":
                return password_login_refused(request)
            return redirect_to_login(request.GET.get("next") or reverse("admin:index"))
        return super().login(request, extra_context)
