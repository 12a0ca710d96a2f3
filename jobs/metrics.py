"""Prometheus metrics read from the database at scrape time, so every gunicorn worker and
server gives the same answer (no per-process counters). Counters are the runs in the
history plus what pruned runs added (PrunedRunTotals). Names and meaning:
docs/operations.md."""

from __future__ import annotations

from collections import Counter

from django.db import connection
from django.db.models import Count, FloatField, Q, QuerySet, Sum
from django.db.models.expressions import RawSQL
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector

from accessmgr.db import db_now
from jobs.dialects import seconds_between_sql
from jobs.models import JOB_MODELS, JobRun, PrunedRunTotals
from jobs.monitoring import COMPLETED_WITH_FAILURES, job_last_success, run_result
from jobs.notifications import claims_in_doubt, pending_notifications_count
from jobs.status import live_run
from requests_app.selectors import access_request_expired

Status = JobRun.Status
DURATION_BUCKETS = (0.1, 0.5, 1, 5, 15, 30, 60, 300, 900, 3600)
RESULTS = ("completed", COMPLETED_WITH_FAILURES, "failed", "abandoned", "refused")
# Items each job's runs processed: (label, the run table's count column).
ITEMS = {
    "revoke": [("revoked", "revoked_count")],
    "notifications": [("sent", "success_count"), ("failed_sends", "failed_count")],
    "deliveries": [("events_delivered", "success_count"), ("failed_deliveries", "failed_count")],
}


def run_totals(job: str, runs: QuerySet) -> Counter:
    """What `runs` (ended runs of `job`) add to each counter, by key: "runs:<result>",
    "items:<label>", "duration:le:<bound>", "duration:count", "duration:sum"."""
    runs = runs.exclude(status=Status.IN_PROGRESS)
    totals = Counter()
    has_failures = job == "notifications"
    partly = {"partly": Count("id", filter=Q(failed_count__gt=0))} if has_failures else {}
    for row in runs.values("status").annotate(n=Count("id"), **partly):
        split = row.get("partly", 0) if row["status"] == Status.COMPLETED else 0
        totals[f"runs:{run_result(status=row['status'])}"] += row["n"] - split
        totals[f"runs:{COMPLETED_WITH_FAILURES}"] += split
    sums = runs.aggregate(**{label: Sum(column) for label, column in ITEMS[job]})
    totals.update({f"items:{label}": sums[label] or 0 for label, _ in ITEMS[job]})
    # Durations of the runs that ended by themselves (an Abandoned run's end is its takeover).
    quote = connection.ops.quote_name
    took = RawSQL(
        seconds_between_sql(vendor=connection.vendor, start=quote("Started_At"), end=quote("Completed_At")),
        [],
        output_field=FloatField(),
    )
    ended = runs.filter(status__in=[Status.COMPLETED, Status.FAILED], completed_at__isnull=False)
    ended = ended.annotate(took=took)
    buckets = {f"duration:le:{bound}": Count("id", filter=Q(took__lte=bound)) for bound in DURATION_BUCKETS}
    durations = ended.aggregate(**buckets, count=Count("id"), total=Sum("took"))
    totals.update({key: durations[key] for key in buckets})
    totals["duration:count"] += durations["count"]
    totals["duration:sum"] += durations["total"] or 0.0
    return totals


def _pruned(job: str) -> Counter:
    return Counter(dict(PrunedRunTotals.objects.filter(job=job).values_list("metric", "value")))


class JobsCollector(Collector):
    def collect(self):
        runs = CounterMetricFamily("accessmgr_job_runs", "Job runs by result", labels=["job", "result"])
        items = CounterMetricFamily(
            "accessmgr_job_items", "Items the job's runs processed", labels=["job", "item"]
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
            totals = run_totals(job, model.objects.all()) + _pruned(job)
            for result in RESULTS:
                if result != COMPLETED_WITH_FAILURES or job == "notifications":
                    runs.add_metric([job, result], totals[f"runs:{result}"])
            for label, _column in ITEMS[job]:
                items.add_metric([job, label], totals[f"items:{label}"])
            buckets = [(str(bound), totals[f"duration:le:{bound}"]) for bound in DURATION_BUCKETS]
            buckets.append(("+Inf", totals["duration:count"]))
            durations.add_metric([job], buckets, sum_value=totals["duration:sum"])
            last = job_last_success(job)
            if last is not None:
                last_success.add_metric([job], last.timestamp())
            running.add_metric([job], 0 if live_run(job=model) is None else 1)
        yield from (runs, items, durations, last_success, running)
        yield GaugeMetricFamily(
            "accessmgr_pending_reminders",
            "Reminders due now (what the notification job would send)",
            value=pending_notifications_count(),
        )
        yield GaugeMetricFamily(
            "accessmgr_notices_in_doubt",
            "Notices claimed by a run that ended and never recorded: maybe sent, not sent again "
            "while NOTIFY_IN_DOUBT=hold (release them in the admin)",
            value=claims_in_doubt().count(),
        )
        yield GaugeMetricFamily(
            "accessmgr_overdue_revocations",
            "Requests past their expiry that are still Active",
            value=access_request_expired(now=db_now()).count(),
        )
