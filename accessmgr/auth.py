"""Logging in: the login page (password and/or single sign-on), the client address that login
throttling counts failures by, and the backend used when password login is off."""

from math import ceil

from django.conf import settings
from django.contrib.auth import views as auth_views
from django.contrib.auth.backends import ModelBackend
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.template.response import TemplateResponse

PASSWORD_LOGIN_OFF = "Password login is turned off here. Log in with single sign-on."


def client_ip(request: HttpRequest) -> str:
    """AXES_CLIENT_IP_CALLABLE: REMOTE_ADDR, or behind TRUSTED_PROXY_COUNT proxies that each
    append to X-Forwarded-For, the address the outermost one saw (never one a client wrote)."""
    count = settings.TRUSTED_PROXY_COUNT
    if count:
        forwarded = [a.strip() for a in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if a.strip()]
        if len(forwarded) >= count:
            return forwarded[-count]
    return request.META.get("REMOTE_ADDR", "")


def login_context() -> dict:
    return {"password_login": settings.PASSWORD_LOGIN, "sso_enabled": settings.SSO_ENABLED}


def password_login_refused(request: HttpRequest) -> TemplateResponse:
    """403 with the login page saying why: a password POST while PASSWORD_LOGIN=0."""
    context = {**login_context(), "login_refused": PASSWORD_LOGIN_OFF}
    return TemplateResponse(request, "registration/login.html", context, status=403)


class LoginView(auth_views.LoginView):
    """Django's login page; it offers single sign-on when configured, and refuses passwords
    when PASSWORD_LOGIN=0."""

    def get_context_data(self, **kwargs):
        return {**super().get_context_data(**kwargs), **login_context()}

    def post(self, request, *args, **kwargs):
        if not settings.PASSWORD_LOGIN:
            return password_login_refused(request)
        return super().post(request, *args, **kwargs)


class PermissionsOnlyBackend(ModelBackend):
    """ModelBackend's permissions without its password check (PASSWORD_LOGIN=0)."""

    def authenticate(self, request, username=None, password=None, **kwargs):
        return None


def locked_out(request: HttpRequest, response, credentials) -> HttpResponse:
    """AXES_LOCKOUT_CALLABLE: the lockout page, 429, saying for how long."""
    minutes = max(1, ceil(settings.AXES_COOLOFF_TIME.total_seconds() / 60))
    context = {
        "failure_limit": settings.AXES_FAILURE_LIMIT,
        "cooloff": f"{minutes} minute{'' if minutes == 1 else 's'}",
    }
    return render(request, "registration/locked_out.html", context, status=429)
