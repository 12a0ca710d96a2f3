"""The printed table and docs/benchmarks.md. The Markdown file holds one section per
database between markers; a run rewrites only its own database's section and keeps the
rest of the file (the other database's figures, the hand-written findings)."""

from __future__ import annotations

import os
import platform
import re
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import django
from django.db import connection

from bench.env import ROOT
from bench.stats import Results, Row

TITLES = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}
ORDER = ["sqlite", "postgresql"]

TEMPLATE = """# Benchmarks

`make bench` (SQLite) and `make bench DB=postgres` measure the jobs, the lock and the pages,
each against a baseline or an ideal measured in the same run, print a table and rewrite
their database's section of this file. The machines are shared and noisy, so the figures
that carry a target are ratios (or, for page times, a fixed budget).

## How to reproduce

```sh
make bench                 # SQLite: a fresh file under var/bench/ (needs no server)
make bench DB=postgres     # PostgreSQL: creates and drops the database accessmgr_bench
BENCH_QUICK=1 make bench   # a fast pass with small N (written to var/bench/, not here)
```

`BENCH_PG_URL` picks another PostgreSQL server or database name (never `test` / `test_*`).
`wrk` is used for the requests-per-second figures when installed (`apt-get install wrk`),
otherwise a small Python client (`bench/loadgen.py`); both figures of a ratio always come
from the same client in the same run. The raw measurements of the last run are in
`var/bench/results-<database>.json`.

## What is measured

1. **Notification job parallel efficiency** = ideal ÷ measured, ideal = ceil(N / workers) × delay,
   workers = min(N, 1,000) (`NOTIFY_MAX_WORKERS`); emails through `django.core.mail` (locmem).
   Also the peak number of database connections (PostgreSQL: `pg_stat_activity` sampled every
   50 ms; SQLite: the process's open handles on the file) and the peak memory growth.
   The runs share one process: a run of 1,000 workers after the first takes the threads the
   one before it kept (`NOTIFY_POOL_KEEP_SECONDS`), the first (1,000 × 1 s) starts them inside
   its measured time. Targets (issue 18): ≥ 0.95 at 1,000 × 10 s, ≥ 0.88 at 10,000 × 1 s.
2. **Revoke of 100,000 expired requests** (delay 0): the project's job against the seed's way
   (one UPDATE, then one INSERT round trip per request), each on a freshly generated table.
3. **Lock** acquire + release latency, uncontended and with 16 processes contending, against
   a `SELECT 1` round trip.
4. **Pages**: server time of All Requests (page 1 and page 1,000) and of the poll endpoints with
   100,000 requests in the table (test Client, in process); requests per second of the poll
   endpoints under gunicorn (gthread) against a bare "hello" view served the same way.

<!-- bench:sqlite:begin -->
## SQLite

Not measured yet: run `make bench`.
<!-- bench:sqlite:end -->

<!-- bench:postgresql:begin -->
## PostgreSQL

Not measured yet: run `make bench DB=postgres`.
<!-- bench:postgresql:end -->
"""


def _git(*args: str) -> str:
    try:
        return subprocess.run(
            ["git", *args], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return ""


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _memory() -> str:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return f"{int(line.split()[1]) / 2**20:.1f} GiB"
    except OSError:
        pass
    return "unknown"


def _db_version() -> str:
    if connection.vendor == "sqlite":
        import sqlite3

        return f"SQLite {sqlite3.sqlite_version}"
    with connection.cursor() as cursor:
        cursor.execute("SELECT version()")
        return cursor.fetchone()[0].split(",")[0]


def machine_info() -> dict:
    commit = _git("rev-parse", "--short", "HEAD")
    dirty = bool(_git("status", "--porcelain", "--untracked-files=no"))
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "commit": commit + (" (with uncommitted changes in the work tree)" if dirty else ""),
        "cpus": str(os.cpu_count()),
        "cpu": _cpu_model(),
        "memory": _memory(),
        "python": platform.python_version(),
        "django": django.get_version(),
        "database": _db_version(),
        "os": f"{platform.system()} {platform.release()}",
    }


def _result(row: Row) -> str:
    if row.passed is None:
        return "—"
    return "pass" if row.passed else "**FAIL**"


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def table_markdown(results: Results) -> str:
    lines = ["| Benchmark | Figure | Target | Result | Measured from |", "|---|---|---|---|---|"]
    for row in results.rows:
        lines.append(
            f"| {_cell(row.section)}: {_cell(row.metric)} | **{_cell(row.value)}** | {_cell(row.target) or '—'} "
            f"| {_result(row)} | {_cell(row.detail)} |"
        )
    return "\n".join(lines)


def table_text(results: Results) -> str:
    width = max((len(f"{r.section}: {r.metric}") for r in results.rows), default=20)
    lines = []
    for row in results.rows:
        verdict = {None: "", True: "pass", False: "FAIL"}[row.passed]
        target = f"({row.target})" if row.target else ""
        lines.append(f"{row.section + ': ' + row.metric:<{width}}  {row.value:>24}  {target:<16} {verdict}")
    return "\n".join(lines)


def section_markdown(*, vendor: str, results: Results, info: dict, settings_used: dict, mode: str) -> str:
    title = TITLES.get(vendor, vendor)
    setting_lines = "\n".join(f"- `{k}` = `{v}`" for k, v in settings_used.items())
    notes = "".join(f"\n- {note}" for note in results.notes)
    return (
        f"## {title}\n\n"
        f"Run {info['date']} at commit `{info['commit']}` ({mode}).\n\n"
        f"Machine: {info['cpus']} CPUs ({info['cpu']}), {info['memory']} memory, {info['os']}; "
        f"Python {info['python']}, Django {info['django']}, {info['database']}.\n\n"
        f"{table_markdown(results)}\n"
        + (f"\nNotes:{notes}\n" if notes else "")
        + f"\n<details><summary>Settings of this run</summary>\n\n{setting_lines}\n\n</details>\n"
    )


def document_update(*, path: Path, vendor: str, section: str) -> None:
    text = path.read_text() if path.exists() else TEMPLATE
    begin, end = f"<!-- bench:{vendor}:begin -->", f"<!-- bench:{vendor}:end -->"
    block = f"{begin}\n{section.rstrip()}\n{end}"
    pattern = re.compile(re.escape(begin) + r".*?" + re.escape(end), re.S)
    if pattern.search(text):
        text = pattern.sub(lambda _m: block, text)
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
