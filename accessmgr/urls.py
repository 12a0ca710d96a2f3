from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_not_required
from django.shortcuts import redirect
from django.templatetags.static import static
from django.urls import include, path
from django.views.decorators.cache import cache_control
from django.views.decorators.http import require_safe

from accessmgr import auth, sso
from accessmgr.health import healthz
from accessmgr.metrics import metrics
from accessmgr.openapi import openapi_json

handler500 = "accessmgr.errors.server_error"  # a database that is away: 503, JSON on /api/


@login_not_required
@cache_control(max_age=86400)
@require_safe
def favicon(request):
    """/favicon.ico, which browsers ask for by themselves: the icon base.html links (its
    hashed name changes with its content, so the redirect is not permanent)."""
    return redirect(static("favicon.svg"))


urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("metrics", metrics, name="metrics"),
    path("favicon.ico", favicon, name="favicon"),
    path("login/", auth.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("oidc/authenticate/", sso.AuthenticateView.as_view(), name="oidc_authentication_init"),
    path("oidc/callback/", sso.CallbackView.as_view(), name="oidc_authentication_callback"),
    path("api/openapi.json", openapi_json, name="openapi_json"),
    path("admin/", admin.site.urls),
    path("", include("requests_app.urls")),
    path("", include("jobs.urls")),
    path("", include("webhooks.urls")),
]
