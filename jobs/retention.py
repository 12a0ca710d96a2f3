"""Retention: delete old job history. Only run rows that have ended (never an InProgress one:
it is a lock) and scheduler ticks; never requests, revocations, reminders or audit events."""

from __future__ import annotations

from datetime import timedelta

from accessmgr.db import db_now
from jobs.models import JOB_MODELS, JobRun, ScheduledTick


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
        deleted[job] = old.delete()[0]
    deleted["ticks"] = ScheduledTick.objects.filter(tick_at__lt=cutoff).delete()[0]
    return deleted
