from django.urls import path

from jobs import api, views

app_name = "jobs"

urlpatterns = [
    # Pages
    path("jobs/revoke-expired/", views.revoke_expired, name="revoke_expired"),
    path("jobs/revoke-expired/run/", views.revoke_run, name="revoke_run"),
    path("jobs/expiry-notifications/", views.expiry_notifications, name="expiry_notifications"),
    path("jobs/expiry-notifications/run/", views.notifications_run, name="notifications_run"),
    path("jobs/history/", views.job_history, name="job_history"),
    path("jobs/runs/<str:job_id>/", views.run_detail, name="run_detail"),
    # The polling banner partial, for job in ("revoke", "notifications")
    path("jobs/<str:job>/banner/", views.banner, name="banner"),
    # JSON API (the seed's paths)
    path("api/access-requests/revoke-expired", api.revoke_expired, name="api_revoke_expired"),
    path("api/access-requests/revoke-job-status", api.revoke_job_status, name="api_revoke_job_status"),
    path(
        "api/access-requests/send-expiry-notifications",
        api.send_expiry_notifications,
        name="api_send_expiry_notifications",
    ),
    path(
        "api/access-requests/notification-job-status",
        api.notification_job_status,
        name="api_notification_job_status",
    ),
    path(
        "api/access-requests/pending-notifications",
        api.pending_notifications,
        name="api_pending_notifications",
    ),
]
