"""Benchmark 3: the job lock's acquire + release latency, uncontended (in this process)
and with several processes contending (bench/worker.py). Baselines, measured in the same
run on the same connection: one `SELECT 1` round trip, and one committed single-row
UPDATE (a write transaction: what a database charges for durability, which acquire +
release pays twice)."""

from __future__ import annotations

import json
import subprocess
import sys
import time

from django.db import connection

from bench.env import ROOT
from bench.stats import Results, Row, ms, percentile
from jobs.lock import LockHeld, lock_acquire
from jobs.models import RevokeExpiredJobRun


def _round_trip_latencies(count: int) -> list[float]:
    latencies = []
    with connection.cursor() as cursor:
        for _ in range(count):
            start = time.perf_counter()
            cursor.execute("SELECT 1")
            cursor.fetchone()
            latencies.append(time.perf_counter() - start)
    return latencies


def _committed_write_latencies(count: int) -> list[float]:
    """One autocommitted single-row UPDATE of a finished run row (a real write: WAL + commit)."""
    run = RevokeExpiredJobRun.objects.order_by("-id").first()
    latencies = []
    for i in range(count):
        start = time.perf_counter()
        RevokeExpiredJobRun.objects.filter(id=run.id).update(processed_count=i)
        latencies.append(time.perf_counter() - start)
    return latencies


def _acquire_release_latencies(count: int) -> list[float]:
    latencies = []
    for _ in range(count):
        start = time.perf_counter()
        lock = lock_acquire(job=RevokeExpiredJobRun, triggered_by="bench")
        lock.release(status="Completed", revoked_count=0)
        latencies.append(time.perf_counter() - start)
    return latencies


def _contend(*, processes: int, seconds: float) -> list[dict]:
    """Start the contenders, wait until every one is ready, release them together."""
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "bench.worker", "--seconds", str(seconds)],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(processes)
    ]
    try:
        for proc in procs:
            line = proc.stdout.readline().strip()
            if line != "ready":
                raise RuntimeError(f"lock contender did not start (said {line!r})")
        for proc in procs:
            proc.stdin.write("go\n")
            proc.stdin.flush()
        results = []
        for proc in procs:
            out, _ = proc.communicate(timeout=seconds + 120)
            results.append(json.loads(out.strip().splitlines()[-1]))
        return results
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()


def lock_bench(*, results: Results, iterations: int, processes: int, seconds: float) -> None:
    section = "Lock"
    print(f"== lock: {iterations} uncontended acquire+release, then {processes} processes for {seconds:g} s")
    # Make sure nothing holds the lock from an earlier section.
    try:
        lock_acquire(job=RevokeExpiredJobRun, triggered_by="bench").release(
            status="Completed", revoked_count=0
        )
    except LockHeld as exc:
        raise RuntimeError(f"the revoke lock is held before the lock bench: {exc}") from None

    warm = max(5, iterations // 20)
    _round_trip_latencies(warm)
    _acquire_release_latencies(warm)
    _committed_write_latencies(warm)
    round_trips = _round_trip_latencies(iterations)
    writes = _committed_write_latencies(iterations)
    uncontended = _acquire_release_latencies(iterations)
    rt50, w50 = percentile(round_trips, 50), percentile(writes, 50)
    p50, p99 = percentile(uncontended, 50), percentile(uncontended, 99)
    results.raw["lock"] = {
        "selectOne": {"p50": rt50, "p99": percentile(round_trips, 99), "n": len(round_trips)},
        "committedWrite": {"p50": w50, "p99": percentile(writes, 99), "n": len(writes)},
        "uncontended": {"p50": p50, "p99": p99, "n": len(uncontended)},
    }
    results.add(
        Row(
            section,
            "Acquire + release, uncontended: p50 / p99",
            f"{ms(p50)} / {ms(p99)}",
            detail=(
                f"{len(uncontended)} pairs; p50 = {p50 / w50:.1f}× one committed single-row UPDATE "
                f"({ms(w50)}), {p50 / rt50:.0f}× a SELECT 1 round trip ({ms(rt50)})"
            ),
        )
    )

    outcomes = _contend(processes=processes, seconds=seconds)
    latencies = [lat for o in outcomes for lat in o["latencies"]]
    won = sum(o["won"] for o in outcomes)
    refused = sum(o["refused"] for o in outcomes)
    errors = sum(o["errors"] for o in outcomes)
    attempts = len(latencies)
    c50, c99 = percentile(latencies, 50), percentile(latencies, 99)
    results.raw["lock"]["contended"] = {
        "processes": processes,
        "seconds": seconds,
        "attempts": attempts,
        "won": won,
        "refused": refused,
        "errors": errors,
        "lastErrors": [o["lastError"] for o in outcomes if o["lastError"]][:3],
        "p50": c50,
        "p99": c99,
    }
    results.add(
        Row(
            section,
            f"{processes} processes contending: attempts/s, p50 / p99",
            f"{attempts / seconds:,.0f}/s, {ms(c50)} / {ms(c99)}",
            target="no errors",
            passed=errors == 0,
            detail=(
                f"{attempts:,} attempts in {seconds:g} s: {won:,} won + released, {refused:,} refused, "
                f"{errors} errors; p50 = {c50 / p50:.1f}× uncontended"
            ),
        )
    )
