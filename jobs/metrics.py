"""Prometheus metrics read from the database at scrape time, so every gunicorn worker and
server gives the same answer (no per-process counters). Names and meaning:
docs/operations.md."""

from __future__ import annotations

from datetime import timedelta

from django.db.models import Count, DurationField, ExpressionWrapper, F, Max, Q, Sum
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector

from accessmgr.db import db_now
from jobs.lock import lock_status
from jobs.models import JOB_MODELS, JobRun
from jobs.monitoring import COMPLETED_WITH_FAILURES, run_result
from jobs.notifications import pending_notifications
from requests_app.selectors import access_request_expired

Status = JobRun.Status
DURATION_BUCKETS = (0.1, 0.5, 1, 5, 15, 30, 60, 300, 900, 3600)
RESULTS = ("completed", COMPLETED_WITH_FAILURES, "failed", "abandoned", "refused")
# Items each job's runs processed: (label, the run table's count column).
ITEMS = {
    "revoke": [("revoked", "revoked_count")],
    "notifications": [("sent", "success_count"), ("failed_sends", "failed_count")],
}


def _results(model: type[JobRun]) -> dict[str, int]:
    counts = dict.fromkeys(RESULTS, 0)
    has_failures = "failed_count" in {f.name for f in model._meta.concrete_fields}
    rows = model.objects.exclude(status=Status.IN_PROGRESS).values("status")
    if has_failures:
        rows = rows.annotate(n=Count("id"), partly=Count("id", filter=Q(failed_count__gt=0)))
    else:
        rows = rows.annotate(n=Count("id"))
    for row in rows:
        partly = row.get("partly", 0) if row["status"] == Status.COMPLETED else 0
        counts[run_result(status=row["status"])] += row["n"] - partly
        counts[COMPLETED_WITH_FAILURES] += partly
    return counts


def _durations(model: type[JobRun]) -> dict:
    """Bucket counts, count and sum of the durations of runs that ended by themselves."""
    ended = model.objects.filter(status__in=[Status.COMPLETED, Status.FAILED], completed_at__isnull=False)
    buckets = {
        f"le{i}": Count("id", filter=Q(completed_at__lte=F("started_at") + timedelta(seconds=bound)))
        for i, bound in enumerate(DURATION_BUCKETS)
    }
    took = ExpressionWrapper(F("completed_at") - F("started_at"), output_field=DurationField())
    return ended.aggregate(**buckets, count=Count("id"), total=Sum(took))


class JobsCollector(Collector):
    def collect(self):
        runs = CounterMetricFamily(
            "accessmgr_job_runs", "Job runs in the history, by result", labels=["job", "result"]
        )
        items = CounterMetricFamily(
            "accessmgr_job_items", "Items the job's runs in the history processed", labels=["job", "item"]
        )
        durations = HistogramMetricFamily(
            "accessmgr_job_duration_seconds", "Duration of runs that completed or failed", labels=["job"]
        )
        last_success = GaugeMetricFamily(
            "accessmgr_job_last_success_timestamp_seconds",
            "When the job's last completed run ended (Unix time)",
            labels=["job"],
        )
        running = GaugeMetricFamily(
            "accessmgr_job_running", "1 while a live run holds the job's lock", labels=["job"]
        )
        for job, model in JOB_MODELS.items():
            for result, n in _results(model).items():
                if result != COMPLETED_WITH_FAILURES or job == "notifications":
                    runs.add_metric([job, result], n)
            sums = model.objects.exclude(status=Status.IN_PROGRESS).aggregate(
                **{label: Sum(column) for label, column in ITEMS[job]}
            )
            for label, _column in ITEMS[job]:
                items.add_metric([job, label], sums[label] or 0)
            d = _durations(model)
            bounds = [(str(bound), d[f"le{i}"]) for i, bound in enumerate(DURATION_BUCKETS)]
            total = d["total"].total_seconds() if d["total"] else 0.0
            durations.add_metric([job], [*bounds, ("+Inf", d["count"])], sum_value=total)
            last = model.objects.filter(status=Status.COMPLETED).aggregate(last=Max("completed_at"))["last"]
            if last is not None:
                last_success.add_metric([job], last.timestamp())
            running.add_metric([job], 1 if lock_status(job=model)["isLocked"] else 0)
        yield from (runs, items, durations, last_success, running)
        yield GaugeMetricFamily(
            "accessmgr_pending_reminders",
            "Reminders due now (what the notification job would send)",
            value=len(pending_notifications()),
        )
        yield GaugeMetricFamily(
            "accessmgr_overdue_revocations",
            "Requests past their expiry that are still Active",
            value=access_request_expired(now=db_now()).count(),
        )
