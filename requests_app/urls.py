from django.urls import path

from requests_app import api, views

app_name = "requests_app"

urlpatterns = [
    path("", views.all_requests, name="all_requests"),
    path("my-access/", views.my_access, name="my_access"),
    path("requests/new/", views.create_request, name="create_request"),
    path("requests/pending-expiry/", views.pending_expiry, name="pending_expiry"),
    path("requests/export.csv", views.all_requests_csv, name="all_requests_csv"),
    path("requests/audit.csv", views.audit_csv, name="audit_csv"),
    path("requests/<str:request_id>/", views.request_detail, name="request_detail"),
    path("requests/<str:request_id>/extend/", views.request_extend, name="request_extend"),
    path("requests/<str:request_id>/revoke/", views.request_revoke, name="request_revoke"),
    path("api/access-requests", api.access_requests, name="api_access_requests"),
    path("api/access-requests/pending-expiry", api.pending_expiry, name="api_pending_expiry"),
    path("api/access-requests/<str:request_id>/extend", api.access_request_extend, name="api_extend"),
    path("api/access-requests/<str:request_id>/revoke", api.access_request_revoke, name="api_revoke"),
]
