from django.shortcuts import render


def revoke_expired(request):
    return render(request, "jobs/revoke_expired.html", {})


def expiry_notifications(request):
    return render(request, "jobs/expiry_notifications.html", {})


def job_history(request):
    return render(request, "jobs/job_history.html", {})
