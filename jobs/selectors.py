"""Reads behind Job History and each job page's "last runs" box: the runs of every job
table in one UNION ALL, newest first, paginated by the database (two queries a page)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.core.paginator import Page, Paginator
from django.db.models import CharField, F, IntegerField, QuerySet, Value

from jobs.models import (
    JOB_MODELS,
    JobRun,
    NotificationFailure,
    NotificationJobRun,
    RevokeExpiredJobRun,
    outcome_label,
    run_outcome,
)
from requests_app.models import ExpiryNotification, RevokedAccess

HISTORY_PAGE_SIZE = 50
LAST_RUNS = 5

# The columns of a history row, in UNION order; counts a job does not have are NULL.
_COMMON = ("job_id", "status", "started_at", "completed_at", "heartbeat_at", "started_by", "triggered_by")
_COUNTS = ("total_count", "processed_count", "revoked_count", "success_count", "failed_count")
_COLUMNS = ("job", *_COMMON, "error_message", *_COUNTS)


@dataclass(frozen=True)
class RunRow:
    """One run of either job, as the history page and the last-runs box show it."""

    job: str  # "revoke" or "notifications" (JOB_MODELS keys)
    job_id: str
    status: str
    started_at: datetime
    completed_at: datetime | None
    heartbeat_at: datetime | None
    started_by: str
    triggered_by: str
    error_message: str | None
    total_count: int | None
    processed_count: int | None
    revoked_count: int | None
    success_count: int | None
    failed_count: int | None

    @property
    def duration(self) -> timedelta | None:
        if self.completed_at and self.started_at:
            return self.completed_at - self.started_at
        return None

    @property
    def duration_seconds(self) -> float | None:
        return self.duration.total_seconds() if self.duration is not None else None

    @property
    def job_title(self) -> str:
        return JOB_MODELS[self.job].job_title

    @property
    def outcome(self) -> str:
        return run_outcome(status=self.status, failed_count=self.failed_count)

    @property
    def outcome_label(self) -> str:
        return outcome_label(self.outcome)


JOB_TITLES = {key: model.job_title for key, model in JOB_MODELS.items()}


def _runs(job: str) -> QuerySet:
    """One job's runs as history rows (values), with the job's key as a column."""
    model: type[JobRun] = JOB_MODELS[job]
    own = {f.name for f in model._meta.get_fields()}
    columns = {"job": Value(job, output_field=CharField())}
    for name in _COLUMNS[1:]:
        # Every column is an annotation, so both sides of the UNION list them in this order.
        columns[f"r_{name}"] = F(name) if name in own else Value(None, output_field=IntegerField())
    return model.objects.values(**columns)


def _row(values: dict) -> RunRow:
    return RunRow(job=values["job"], **{name: values[f"r_{name}"] for name in _COLUMNS[1:]})


def job_runs_page(*, job: str | None = None, page: int = 1) -> Page:
    """Runs of one job (job="revoke"/"notifications") or of every job, newest first; one
    past the end gives the last page."""
    if job is not None and job not in JOB_MODELS:
        raise ValueError(f"unknown job {job!r}")
    jobs = [job] if job else list(JOB_MODELS)
    runs = _runs(jobs[0])
    if len(jobs) > 1:
        runs = runs.union(*(_runs(other) for other in jobs[1:]), all=True)
    runs = runs.order_by("-r_started_at", "-r_job_id")
    result = Paginator(runs, HISTORY_PAGE_SIZE).get_page(page)  # past the end: the last page
    result.object_list = [_row(values) for values in result.object_list]
    return result


def job_runs_recent(*, job: str) -> list[RunRow]:
    """The last LAST_RUNS runs of one job, newest first (the job page's "last runs" box)."""
    return [_row(values) for values in _runs(job).order_by("-r_started_at", "-r_job_id")[:LAST_RUNS]]


@dataclass(frozen=True)
class RunDetail:
    """One run and what it did: the run page."""

    run: JobRun
    revocations: list  # RevokedAccess rows of a revoke run (the first RUN_PAGE_ROWS)
    reminders: list  # ExpiryNotification rows of a notification run
    failures: list  # NotificationFailure rows of a notification run
    refused_by: str | None  # a Refused run: the jobId that held the lock


RUN_PAGE_ROWS = 500


def job_run_detail(*, job_id: str) -> RunDetail | None:
    """The run with this jobId, whichever job it belongs to, or None."""
    for model in JOB_MODELS.values():
        run = model.objects.filter(job_id=job_id).first()
        if run is not None:
            break
    else:
        return None
    revocations = reminders = failures = []
    if model is RevokeExpiredJobRun:
        revocations = list(
            RevokedAccess.objects.filter(job_id=job_id)
            .select_related("request")
            .order_by("id")[:RUN_PAGE_ROWS]
        )
    elif model is NotificationJobRun:
        reminders = list(ExpiryNotification.objects.filter(job_id=job_id).order_by("id")[:RUN_PAGE_ROWS])
        failures = list(NotificationFailure.objects.filter(job_id=job_id).order_by("id")[:RUN_PAGE_ROWS])
    return RunDetail(run, revocations, reminders, failures, run.holder_job_id)
