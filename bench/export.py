"""Benchmark: the All Requests CSV export of N requests (requests_app.exports), streamed.

Reads the whole response the way a client does, chunk by chunk, and samples the process's
resident memory (RSS) every 1,000 lines: the growth over the RSS before the export must stay
under 50 MB for N = 100,000, i.e. the rows are never all in memory at once. Runs on the table
the revoke section leaves (N revoked requests, so the RevokedAccess join is exercised), or on
a fresh one of N requests."""

from __future__ import annotations

import gc
import time
from datetime import timedelta

from accessmgr.db import db_now
from bench.data import requests_create, tables_clear
from bench.stats import Results, Row, rss_bytes
from requests_app import exports, selectors
from requests_app.models import UserAccessRequest

TARGET_MB = 50


def export_bench(*, results: Results, n: int) -> None:
    print(f"== export: All Requests as CSV, {n:,} requests")
    if UserAccessRequest.objects.count() != n:
        tables_clear()
        requests_create(count=n, expires_in=timedelta(days=30), prefix="EXP")
    gc.collect()
    before = peak = rss_bytes()
    lines = size = 0
    started = time.perf_counter()
    response = exports.access_requests_csv(
        selectors.access_request_filtered(filters=selectors.RequestFilters(), now=db_now()),
        filename="bench.csv",
    )
    for chunk in response.streaming_content:
        lines += 1
        size += len(chunk)
        if lines % 1000 == 0:
            peak = max(peak, rss_bytes())
    seconds = time.perf_counter() - started
    peak = max(peak, rss_bytes())
    growth_mb = (peak - before) / 2**20
    ok = lines == n + 1
    results.raw["export"] = {
        "n": n,
        "lines": lines,
        "bytes": size,
        "seconds": seconds,
        "rssBeforeBytes": before,
        "rssPeakBytes": peak,
        "growthMB": growth_mb,
    }
    results.add(
        Row(
            "CSV export",
            f"Export {n:,} requests as CSV: memory growth (peak RSS − RSS before)",
            f"{growth_mb:.1f} MB",
            target=f"< {TARGET_MB} MB",
            passed=growth_mb < TARGET_MB and ok,
            detail=(
                f"{lines - 1:,} rows, {size / 2**20:.1f} MB of CSV in {seconds:.2f} s "
                f"({(lines - 1) / seconds:,.0f} rows/s); RSS {before / 2**20:.0f} → {peak / 2**20:.0f} MB"
                + ("" if ok else f" — expected {n + 1:,} lines")
            ),
        )
    )
