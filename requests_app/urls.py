from django.urls import path

from requests_app import api, views

app_name = "requests_app"

urlpatterns = [
    path("", views.all_requests, name="all_requests"),
    path("requests/new/", views.create_request, name="create_request"),
    path("requests/pending-expiry/", views.pending_expiry, name="pending_expiry"),
    path("api/access-requests", api.access_requests, name="api_access_requests"),
    path("api/access-requests/pending-expiry", api.pending_expiry, name="api_pending_expiry"),
]
