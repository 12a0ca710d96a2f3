"""Retention: delete old job history. Only run rows that have ended (never an InProgress one:
it is a lock), the failed sends of those runs, and scheduler ticks; never requests,
revocations, reminders or audit events.
What the deleted runs counted is kept in PrunedRunTotals, so /metrics counters never drop."""

from __future__ import annotations

from datetime import timedelta

from django.db import transaction
from django.db.models import F

from accessmgr.db import db_now
from jobs.metrics import run_totals
from jobs.models import JOB_MODELS, JobRun, NotificationFailure, PrunedRunTotals, ScheduledTick


def _runs_prune(job: str, old) -> int:
    """Delete `old` (ended runs of `job`) and add what they counted to PrunedRunTotals, in one
    transaction. The rows are locked first, so a concurrent prune neither counts nor deletes
    them a second time."""
    with transaction.atomic():
        for _ in old.select_for_update().values_list("id", flat=True).iterator():
            pass
        totals = run_totals(job, old)
        if job == "notifications":  # the failed sends recorded for those runs
            NotificationFailure.objects.filter(job_id__in=old.values("job_id")).delete()
        deleted = old.delete()[0]
        for metric, value in totals.items():
            row, _ = PrunedRunTotals.objects.select_for_update().get_or_create(job=job, metric=metric)
            PrunedRunTotals.objects.filter(id=row.id).update(value=F("value") + value)
    return deleted


def history_prune(*, older_than: timedelta) -> dict[str, int]:
    """Delete the ended runs of every job that started, and the ticks due, more than
    `older_than` ago (by the database clock); returns how many rows of each were deleted,
    by job key, and "ticks"."""
    if older_than <= timedelta(0):
        raise ValueError("older_than must be positive")
    cutoff = db_now() - older_than
    deleted = {}
    for job, model in JOB_MODELS.items():
        old = model.objects.filter(started_at__lt=cutoff).exclude(status=JobRun.Status.IN_PROGRESS)
        deleted[job] = _runs_prune(job, old)
    deleted["ticks"] = ScheduledTick.objects.filter(tick_at__lt=cutoff).delete()[0]
    return deleted
