from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_not_required
from django.shortcuts import redirect
from django.templatetags.static import static
from django.urls import include, path
from django.views.decorators.cache import cache_control
from django.views.decorators.http import require_safe

from accessmgr.health import healthz


@login_not_required
@cache_control(max_age=86400)
@require_safe
def favicon(request):
    """/favicon.ico, which browsers ask for by themselves: the icon base.html links (its
    hashed name changes with its content, so the redirect is not permanent)."""
    return redirect(static("favicon.svg"))


urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("favicon.ico", favicon, name="favicon"),
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    path("", include("requests_app.urls")),
    path("", include("jobs.urls")),
]
