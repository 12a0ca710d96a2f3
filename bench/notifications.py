"""Benchmark 1: the notification job's parallel efficiency.

efficiency = ideal ÷ measured, ideal = ceil(N / workers) × delay: with `workers`
threads each waiting `delay` per email, nothing can finish sooner. Measured is the wall
time of the whole job call (lock, select, sends, inserts, release). Emails go through
django.core.mail to the locmem backend. During each run a sampler records the peak
number of database connections and the peak growth of this process's memory.

The ceiling in the same run: the same ThreadPoolExecutor (same N, workers and delay) whose
tasks only wait — no email, no database. With 1,000 fresh threads in one CPython process
it stays below 1 by the threads' start-up (one after another, ~0.1–0.2 ms each) and the
GIL hand-offs of 1,000 tasks waking together; the job cannot do better than it.
"""

from __future__ import annotations

import math
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from datetime import timedelta
from threading import Event

from django.conf import settings
from django.core import mail
from django.test import override_settings

from bench.data import requests_create, tables_clear
from bench.stats import PeakSampler, Results, Row, Stopwatch
from jobs.notifications import notifications_send
from requests_app.models import ExpiryNotification

MAX_WORKERS = 1000
# Issue 18's targets by (N, delay); other runs (N = 1,000 × 1 s: "the best you can", beside
# the bare pool's ceiling) have none.
TARGETS = {(1000, 10.0): 0.95, (10_000, 1.0): 0.88}


def bare_pool_seconds(*, n: int, workers: int, delay: float) -> float:
    """Wall time of `n` tasks that only wait `delay` on a pool of `workers` threads,
    gathered as the job gathers them (as_completed)."""
    stop = Event()
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for future in as_completed([pool.submit(stop.wait, delay) for _ in range(n)]):
            future.result()
    return time.monotonic() - started


def notifications_bench(*, results: Results, runs: list[tuple[int, float]], sampler_args: dict) -> None:
    section = "Notification job"
    results.raw["notifications"] = []
    for n, delay in runs:
        workers = min(n, MAX_WORKERS)
        ideal = math.ceil(n / workers) * delay
        print(f"== notifications: N={n:,} delay={delay:g} s workers={workers}")
        tables_clear()
        requests_create(count=n, expires_in=timedelta(days=20, hours=12), prefix=f"NTF{n}")
        mail.outbox = []
        with (
            override_settings(NOTIFY_MAX_WORKERS=workers, NOTIFY_SEND_DELAY_SECONDS=delay),
            PeakSampler(**sampler_args) as sampler,
            Stopwatch() as watch,
        ):
            result = notifications_send(triggered_by="bench")
        recorded = ExpiryNotification.objects.count()
        emails = len(mail.outbox)
        mail.outbox = []
        efficiency = ideal / watch.seconds
        bare = bare_pool_seconds(n=n, workers=workers, delay=delay)
        bare_efficiency = ideal / bare
        correct = len(result.sent) == n == recorded == emails and len(result.failed) == 0
        pool = settings.DB_POOL_MAX_SIZE
        raw = {
            "n": n,
            "delay": delay,
            "workers": workers,
            "idealSeconds": ideal,
            "measuredSeconds": watch.seconds,
            "efficiency": efficiency,
            "barePoolSeconds": bare,
            "barePoolEfficiency": bare_efficiency,
            "jobParallelSeconds": result.parallel_seconds,
            "notified": len(result.sent),
            "failed": len(result.failed),
            "recorded": recorded,
            "emails": emails,
            "peakConnections": sampler.peak_connections,
            "poolMaxSize": pool if sampler.vendor == "postgresql" else None,
            "peakRssGrowthMB": round(sampler.peak_rss_growth_mb, 1),
            "samples": sampler.samples,
        }
        results.raw["notifications"].append(raw)
        target = TARGETS.get((n, float(delay)))
        has_target = target is not None
        results.add(
            Row(
                section,
                f"Efficiency, N={n:,}, delay {delay:g} s, {workers:,} workers",
                f"{efficiency:.3f}",
                target=f"≥ {target}" if has_target else "",
                passed=(efficiency >= target and correct) if has_target else (None if correct else False),
                detail=(
                    f"ideal {ideal:g} s / measured {watch.seconds:.2f} s; "
                    f"{len(result.sent):,} sent, {recorded:,} recorded, {emails:,} emails"
                    + ("" if correct else " — MISMATCH")
                ),
            )
        )
        results.add(
            Row(
                section,
                f"Ceiling: bare pool, N={n:,}, delay {delay:g} s",
                f"{bare_efficiency:.3f}",
                detail=(
                    f"the same pool, tasks only wait: {bare:.2f} s; "
                    f"the job reaches {efficiency / bare_efficiency:.0%} of it"
                ),
            )
        )
        if sampler.vendor == "postgresql":
            results.add(
                Row(
                    section,
                    f"Peak DB connections, N={n:,}",
                    f"{sampler.peak_connections}",
                    target=f"≤ pool ({pool})",
                    passed=sampler.peak_connections <= pool,
                    detail=f"pg_stat_activity every 50 ms, {sampler.samples} samples; workers {workers:,}",
                )
            )
        else:
            results.add(
                Row(
                    section,
                    f"Peak DB connections, N={n:,}",
                    f"{sampler.peak_connections}",
                    detail=(
                        f"open handles on the SQLite file every 50 ms ({sampler.samples} samples); "
                        f"no pool on SQLite: each task opens and closes its own; workers {workers:,}"
                    ),
                )
            )
        results.add(
            Row(
                section,
                f"Peak memory growth, N={n:,}",
                f"{sampler.peak_rss_growth_mb:.0f} MB",
                detail="RSS of the bench process, peak during the run minus before it",
            )
        )
