"""Benchmark 2: revoking N expired requests (delay 0).

Baseline: what the seed does (flows.md, Flow 2, step 5), written here: collect the
expired Request_Ids, one UPDATE of them all, then one INSERT INTO RevokedAccess round
trip per request, each in autocommit. Project: jobs.revoke.revoke_expired_run (chunked,
set-based, one transaction per chunk, under the lock). Each runs on a freshly generated
table of N expired Active requests; both results are checked (N revoked, N recorded)."""

from __future__ import annotations

import statistics
import time
from datetime import timedelta

from django.db import connection, transaction
from django.test import override_settings

from accessmgr.db import db_now
from bench.data import requests_create, tables_analyze, tables_clear
from bench.stats import Results, Row, Stopwatch
from jobs.dialects import dialect_for
from jobs.revoke import revoke_chunk_ids, revoke_expired_run
from requests_app.models import REVOKED_BY_JOB as REVOKED_BY
from requests_app.models import RevokedAccess, UserAccessRequest

TARGET = 20.0


def seed_revoke_baseline(phases: dict | None = None) -> int:
    """The seed's revoke: SELECT the ids, one UPDATE, then an INSERT round trip per id.
    `phases` receives the seconds spent in each step."""
    phases = {} if phases is None else phases
    start = time.perf_counter()
    now = db_now()
    expired = UserAccessRequest.objects.filter(status=UserAccessRequest.Status.ACTIVE, expires_on__lte=now)
    request_ids = list(expired.values_list("request_id", flat=True))
    phases["select"] = time.perf_counter() - start
    if not request_ids:
        return 0
    start = time.perf_counter()
    expired.update(status=UserAccessRequest.Status.REVOKED)
    phases["update"] = time.perf_counter() - start
    quote = connection.ops.quote_name
    table = quote(RevokedAccess._meta.db_table)
    sql = (
        f"INSERT INTO {table} ({quote('Request_Id')}, {quote('Revoked_Dt')}, {quote('Revoked_By')}) "
        f"VALUES (%s, {dialect_for().now}, %s)"
    )
    start = time.perf_counter()
    with connection.cursor() as cursor:
        for request_id in request_ids:
            cursor.execute(sql, [request_id, REVOKED_BY])
    phases["inserts"] = time.perf_counter() - start
    return len(request_ids)


def _fresh_table(n: int) -> None:
    tables_clear()
    requests_create(count=n, expires_in=-timedelta(hours=1), spread=timedelta(days=90), prefix="REV")


def _check(n: int, label: str) -> bool:
    revoked = UserAccessRequest.objects.filter(status=UserAccessRequest.Status.REVOKED).count()
    recorded = RevokedAccess.objects.count()
    if revoked == recorded == n:
        return True
    print(f"  !! {label}: {revoked} revoked, {recorded} recorded, expected {n}")
    return False


def revoke_bench(*, results: Results, n: int) -> None:
    section = "Revoke job"
    print(f"== revoke: {n:,} expired requests, seed baseline then the project's job")
    _fresh_table(n)
    phases: dict[str, float] = {}
    with Stopwatch() as baseline:
        baseline_count = seed_revoke_baseline(phases)
    baseline_ok = baseline_count == n and _check(n, "baseline")

    _fresh_table(n)
    with override_settings(REVOKE_DELAY_SECONDS=0), Stopwatch() as project:
        result = revoke_expired_run(triggered_by="bench")
    project_ok = result.revoked_count == n and _check(n, "project")
    tables_analyze()

    speedup = baseline.seconds / project.seconds
    results.raw["revoke"] = {
        "n": n,
        "baselineSeconds": baseline.seconds,
        "baselinePhases": phases,
        "projectSeconds": project.seconds,
        "speedup": speedup,
        "baselineOk": baseline_ok,
        "projectOk": project_ok,
    }
    results.add(
        Row(
            section,
            f"Revoke {n:,} expired: speed-up vs the seed's per-row inserts",
            f"{speedup:.1f}×",
            target=f"≥ {TARGET:g}×",
            passed=speedup >= TARGET and baseline_ok and project_ok,
            detail=(
                f"seed baseline {baseline.seconds:.2f} s (select {phases.get('select', 0):.2f} + update "
                f"{phases.get('update', 0):.2f} + {n:,} inserts {phases.get('inserts', 0):.2f}) / "
                f"project {project.seconds:.2f} s ({n / project.seconds:,.0f} rows/s)"
                + ("" if baseline_ok and project_ok else " — COUNT MISMATCH")
            ),
        )
    )


FRESH_TARGET = {"postgresql": 1.5, "sqlite": 1.3}  # × the floor, on a freshly loaded table
ANALYSED_TARGET = {"postgresql": 1.2, "sqlite": 1.3}


def floor_revoke() -> int:
    """The floor: every expired Active request revoked and recorded by set-based SQL over
    the whole table, no chunks, no lock (one statement on PostgreSQL; an INSERT … SELECT
    and an UPDATE in one transaction elsewhere). Rows revoked."""
    q = connection.ops.quote_name
    now = dialect_for().now
    expired = f"{q('Status')} = 'Active' AND {q('Expires_On')} <= {now}"
    record = (
        f"INSERT INTO {q('RevokedAccess')} ({q('Request_Id')}, {q('Revoked_Dt')}, {q('Revoked_By')}) "
        f"SELECT {q('Request_Id')}, {now}, %s FROM "
    )
    with transaction.atomic(), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                f"WITH revoked AS (UPDATE {q('UserAccessRequest')} SET {q('Status')} = 'Revoked' "
                f"WHERE {expired} RETURNING {q('Request_Id')}) {record} revoked",
                [REVOKED_BY],
            )
            return cursor.rowcount
        cursor.execute(f"{record} {q('UserAccessRequest')} WHERE {expired}", [REVOKED_BY])
        cursor.execute(f"UPDATE {q('UserAccessRequest')} SET {q('Status')} = 'Revoked' WHERE {expired}")
        return cursor.rowcount


def _loaded(n: int, *, analyze: bool) -> None:
    tables_clear()  # analysed empty: the statistics of a table before its bulk load
    requests_create(
        count=n, expires_in=-timedelta(hours=1), spread=timedelta(days=90), prefix="RVF", analyze=analyze
    )


def revoke_floor_bench(*, results: Results, sizes: list[int], rounds: int) -> None:
    """The job against the floor on the same data, on a table just bulk-loaded (no
    statistics of its rows yet) and on an analysed one; interleaved rounds, medians."""
    section = "Revoke job"
    vendor = connection.vendor
    raw = results.raw.setdefault("revokeFloor", [])
    for n in sizes:
        for analyze in (False, True):
            times = {"project": [], "floor": []}
            for round_ in range(rounds):
                for way in ("project", "floor") if round_ % 2 == 0 else ("floor", "project"):
                    _loaded(n, analyze=analyze)
                    with override_settings(REVOKE_DELAY_SECONDS=0), Stopwatch() as watch:
                        done = (
                            revoke_expired_run(triggered_by="bench").revoked_count
                            if way == "project"
                            else floor_revoke()
                        )
                    times[way].append(watch.seconds)
                    if not (done == n and _check(n, way)):
                        times[way][-1] = float("nan")
            project, floor = (statistics.median(times[w]) for w in ("project", "floor"))
            ratio = project / floor
            state = "analysed table" if analyze else "freshly loaded table (not analysed)"
            target = (ANALYSED_TARGET if analyze else FRESH_TARGET).get(vendor)
            raw.append({"n": n, "analysed": analyze, **times})
            results.add(
                Row(
                    section,
                    f"Revoke {n:,} on a {state}: job ÷ one set-based statement",
                    f"{ratio:.2f}×",
                    target=f"≤ {target:g}×" if target else "",
                    passed=(ratio <= target) if target else None,
                    detail=(
                        f"job {project:.2f} s, floor {floor:.2f} s (medians of {rounds}, interleaved; "
                        f"chunks of {revoke_chunk_ids(dialect_for()):,})"
                    ),
                )
            )
