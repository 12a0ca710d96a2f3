from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from accessmgr import auth, sso
from accessmgr.health import healthz
from accessmgr.metrics import metrics
from accessmgr.openapi import openapi_json

handler500 = "accessmgr.errors.server_error"  # a database that is away: 503, JSON on /api/

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("metrics", metrics, name="metrics"),
    path("login/", auth.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("oidc/authenticate/", sso.AuthenticateView.as_view(), name="oidc_authentication_init"),
    path("oidc/callback/", sso.CallbackView.as_view(), name="oidc_authentication_callback"),
    path("api/openapi.json", openapi_json, name="openapi_json"),
    path("admin/", admin.site.urls),
    path("", include("requests_app.urls")),
    path("", include("jobs.urls")),
]
