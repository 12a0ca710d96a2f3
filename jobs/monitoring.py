"""What an operator watches, read from the run tables: a job's schedule summary (its page),
whether each job has succeeded recently enough (/healthz?jobs=1, check_jobs), and a run's
result as /metrics names it. See docs/operations.md."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Max, Min
from django.utils import timezone

from accessmgr.db import db_now
from jobs.models import JOB_MODELS, JobRun
from jobs.schedule import Schedule, schedule_parse
from requests_app.selectors import access_request_expired

Status = JobRun.Status
COMPLETED_WITH_FAILURES = "completed_with_failures"
MAX_AGE_SETTINGS = {"revoke": "REVOKE_MAX_AGE_SECONDS", "notifications": "NOTIFY_MAX_AGE_SECONDS"}
MAX_AGE_MARGIN = timedelta(minutes=1)  # for the run itself, on top of two periods


def job_schedule(job: str) -> Schedule | None:
    """The schedule settings give `job` ("revoke", "notifications", "deliveries", "prune"),
    None when off."""
    text = {
        "revoke": settings.REVOKE_SCHEDULE,
        "notifications": settings.NOTIFY_SCHEDULE,
        "deliveries": settings.DELIVER_SCHEDULE,
        "prune": settings.HISTORY_PRUNE_SCHEDULE if settings.HISTORY_RETENTION_DAYS > 0 else "",
    }.get(job, "")
    return schedule_parse(text, zone=settings.SCHEDULE_TIME_ZONE)


def run_result(*, status: str, failed_count: int | None = None) -> str:
    """A run's result: completed, completed_with_failures (a notification run whose sends
    partly failed), failed, abandoned, refused, or inprogress."""
    if status == Status.COMPLETED and failed_count:
        return COMPLETED_WITH_FAILURES
    return status.lower()


def job_max_age(job: str, *, now: datetime) -> timedelta | None:
    """How old the job's last success may be: its *_MAX_AGE_SECONDS, else twice its
    schedule's period plus a minute; None (not checked) without either."""
    seconds = getattr(settings, MAX_AGE_SETTINGS[job]) if job in MAX_AGE_SETTINGS else 0
    if seconds > 0:
        return timedelta(seconds=seconds)
    schedule = job_schedule(job)
    return 2 * schedule.period(now) + MAX_AGE_MARGIN if schedule else None


def job_last_success(job: str) -> datetime | None:
    """When the job's last Completed run ended."""
    runs = JOB_MODELS[job].objects.filter(status=Status.COMPLETED)
    return runs.aggregate(last=Max("completed_at"))["last"]


@dataclass(frozen=True)
class JobProblem:
    job: str
    reason: str


def jobs_problems(*, now: datetime | None = None) -> list[JobProblem]:
    """The jobs whose last success is older than their allowed age, and revoke when an
    expired request has been Active for longer than its allowed age. Empty when healthy."""
    now = now or db_now()
    problems = []
    for job in JOB_MODELS:
        max_age = job_max_age(job, now=now)
        if max_age is None:
            continue
        last = job_last_success(job)
        if last is None:
            problems.append(JobProblem(job, f"{job} has never succeeded (allowed age {max_age})"))
        elif now - last > max_age:
            problems.append(
                JobProblem(job, f"{job} last succeeded at {last.isoformat()}, over {max_age} ago")
            )
        if job == "revoke":
            oldest = access_request_expired(now=now).aggregate(oldest=Min("expires_on"))["oldest"]
            if oldest is not None and now - oldest > max_age:
                problems.append(
                    JobProblem(job, f"expired requests are still Active after more than {max_age}")
                )
    return problems


@dataclass(frozen=True)
class JobScheduleSummary:
    schedule: str  # the setting's text, "" when the job is not scheduled
    zone: str
    next_run: datetime | None
    last_success: datetime | None
    last_result: str | None  # run_result of the last run that ended (refusals left out)
    last_run_at: datetime | None

    @property
    def last_result_text(self) -> str:
        return (self.last_result or "").replace("_", " ").capitalize()


def job_schedule_summary(job: str) -> JobScheduleSummary:
    """The job page's schedule box: next tick, last success, last run's result."""
    schedule = job_schedule(job)
    model = JOB_MODELS[job]
    last = (
        model.objects.exclude(status__in=[Status.IN_PROGRESS, Status.REFUSED]).order_by("-started_at").first()
    )
    return JobScheduleSummary(
        schedule=schedule.text if schedule else "",
        zone=settings.SCHEDULE_TIME_ZONE,
        next_run=schedule.next(timezone.now()) if schedule else None,
        last_success=job_last_success(job),
        last_result=run_result(status=last.status, failed_count=getattr(last, "failed_count", None))
        if last
        else None,
        last_run_at=last.started_at if last else None,
    )
