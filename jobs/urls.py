from django.urls import path

from jobs import views

app_name = "jobs"

urlpatterns = [
    path("jobs/revoke-expired/", views.revoke_expired, name="revoke_expired"),
    path("jobs/expiry-notifications/", views.expiry_notifications, name="expiry_notifications"),
    path("jobs/history/", views.job_history, name="job_history"),
]
