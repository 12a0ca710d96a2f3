"""Job pages. Each stub below is replaced by the issue that owns it:
banner → job lock; revoke_* → revoke job; notifications_*/expiry_* → notification job;
job_history → production readiness."""

from django.http import HttpResponse
from django.shortcuts import render


def revoke_expired(request):
    return render(request, "jobs/revoke_expired.html", {})


def revoke_run(request):
    return HttpResponse("Not built yet.", status=501)


def expiry_notifications(request):
    return render(request, "jobs/expiry_notifications.html", {})


def notifications_run(request):
    return HttpResponse("Not built yet.", status=501)


def job_history(request):
    return render(request, "jobs/job_history.html", {})


def banner(request, job):
    return HttpResponse("")
