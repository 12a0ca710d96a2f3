"""run_scheduler's loop: each scheduled job's latest due tick is claimed in ScheduledTick
(one row per job and tick, so of all the servers exactly one runs it), then run under the
job's own lock. Only the latest tick is ever tried: after downtime a job runs once.
Policy and deployment: docs/operations.md."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import IntegrityError

from accessmgr.db import db_now
from accessmgr.logging import log_context
from jobs.delivery import deliver_events_run
from jobs.lock import LockHeld, server_identity
from jobs.models import ScheduledTick
from jobs.monitoring import job_schedule
from jobs.notifications import notifications_send
from jobs.retention import history_prune
from jobs.revoke import revoke_expired_run
from jobs.schedule import Schedule
from jobs.signals import interrupts_deferred

logger = logging.getLogger("jobs.scheduler")

TRIGGERED_BY = "run_scheduler"
Outcome = ScheduledTick.Outcome


@dataclass(frozen=True)
class ScheduledJob:
    name: str  # JOB_MODELS key, or "prune"
    schedule: Schedule
    run: Callable[[], object]


def _prune() -> dict[str, int]:
    return history_prune(older_than=timedelta(days=settings.HISTORY_RETENTION_DAYS))


def scheduled_jobs() -> list[ScheduledJob]:
    """The jobs that have a schedule, from settings."""
    runs = {
        "revoke": lambda: revoke_expired_run(triggered_by=TRIGGERED_BY),
        "notifications": lambda: notifications_send(triggered_by=TRIGGERED_BY),
        "deliveries": lambda: deliver_events_run(triggered_by=TRIGGERED_BY),
        "prune": _prune,
    }
    return [
        ScheduledJob(name=name, schedule=schedule, run=run)
        for name, run in runs.items()
        if (schedule := job_schedule(name)) is not None
    ]


def tick_claim(*, job: str, tick_at: datetime) -> ScheduledTick | None:
    """Claim one tick for this process; None when another scheduler already has."""
    try:
        return ScheduledTick.objects.create(
            job=job,
            tick_at=tick_at,
            claimed_by=server_identity(),
            claimed_at=db_now(),
            outcome=Outcome.RUNNING,
        )
    except IntegrityError:  # scheduledtick_one_per_tick: the only unique key a new row can break
        return None


def _finish(tick: ScheduledTick, outcome: str, error: str | None, started: float) -> None:
    tick.outcome, tick.error_message, tick.finished_at = outcome, error, db_now()
    tick.save(update_fields=["outcome", "error_message", "finished_at"])
    logger.log(
        logging.WARNING if outcome in (Outcome.FAILED, Outcome.INTERRUPTED) else logging.INFO,
        f"Scheduled {tick.job} tick {tick.tick_at.isoformat()}: {outcome}" + (f" ({error})" if error else ""),
        extra={
            "event": "scheduler_run",
            "job": tick.job,
            "tick": tick.tick_at,
            "result": outcome.lower(),
            "duration": round(time.monotonic() - started, 3),
            "error": error,
        },
    )


def scheduled_run(job: ScheduledJob, *, now: datetime) -> str | None:
    """Run `job` for its latest tick at or before `now` if this process claims it: the
    outcome (a ScheduledTick.Outcome), or None when another scheduler claimed the tick.
    KeyboardInterrupt (SIGTERM) is recorded as Interrupted and raised again."""
    tick = None
    started = time.monotonic()
    try:
        with interrupts_deferred():  # a claimed tick always gets its outcome
            tick = tick_claim(job=job.name, tick_at=job.schedule.latest(now))
        if tick is None:
            return None
        with log_context(tick=tick.tick_at, scheduledJob=job.name):
            job.run()
    except LockHeld as held:
        _finish(tick, Outcome.REFUSED, str(held), started)
    except Exception as exc:
        if tick is None:
            raise
        _finish(tick, Outcome.FAILED, str(exc) or type(exc).__name__, started)
    except KeyboardInterrupt as exc:
        if tick is not None:
            _finish(tick, Outcome.INTERRUPTED, str(exc) or "Interrupted", started)
        raise
    else:
        _finish(tick, Outcome.COMPLETED, None, started)
    return tick.outcome


def scheduler_loop(jobs: list[ScheduledJob], *, until: Callable[[], bool] = lambda: False) -> None:
    """Run each job's ticks until `until()` is true (or KeyboardInterrupt). A process tries
    each tick once; of the ticks that passed while it slept or ran, only the latest is run.
    A failure to claim or record a tick (the database is down) is logged, not raised."""
    tried: dict[str, datetime] = {}
    while not until():
        now = datetime.now(UTC)
        for job in jobs:
            tick_at = job.schedule.latest(now)
            if tried.get(job.name) == tick_at:
                continue
            tried[job.name] = tick_at
            try:
                scheduled_run(job, now=now)
            except Exception:
                logger.exception(
                    f"Scheduled {job.name} tick {tick_at.isoformat()} could not be claimed or recorded",
                    extra={"event": "scheduler_error", "job": job.name, "tick": tick_at},
                )
        now = datetime.now(UTC)
        due = [job.schedule.latest(now) for job in jobs if tried.get(job.name) != job.schedule.latest(now)]
        wake = min(due or [job.schedule.next(now) for job in jobs])
        time.sleep(max(0.0, (wake - datetime.now(UTC)).total_seconds()))
