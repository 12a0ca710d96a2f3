"""`python -m bench [--db sqlite|postgres] [--quick | --smoke] [--out FILE]`

Sets up a fresh bench database, runs the benchmarks in order (lock, notifications, smtp (the job on a real SMTP server),
revoke, export, pages — export and pages run on the table the revoke leaves), prints the table and
rewrites this database's section of docs/benchmarks.md (full runs only; --quick and
--smoke write under the work directory unless --out says otherwise).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

from bench.env import BENCH_DIR, ROOT, bench_database, database_create, database_drop, environ_prepare


@dataclass(frozen=True)
class Plan:
    mode: str
    notify_runs: list[tuple[int, float]] = field(default_factory=list)  # (N, delay seconds)
    revoke_n: int = 100_000
    revoke_floor_sizes: list[int] = field(default_factory=lambda: [30_000, 100_000])
    revoke_delayed_n: int = 30_000  # the seed's way: one delayed round trip per request
    smtp_n: int = 2000
    smtp_workers: int = 100
    smtp_rounds: int = 3
    delivery_n: int = 10_000
    lock_iterations: int = 1000
    lock_processes: int = 16
    lock_seconds: float = 5
    page_samples: int = 200
    http_seconds: float = 2
    http_rounds: int = 8
    http_warmup: bool = True
    million_samples: int = 40  # each list at 1,000,000 rows; p95 of 40 is the second slowest


PLANS = {
    "full": Plan(
        mode="full run",
        notify_runs=[(100, 1.0), (1000, 1.0), (10_000, 1.0), (1000, 10.0)],
    ),
    "quick": Plan(
        mode="quick pass (BENCH_QUICK=1)",
        notify_runs=[(100, 0.5), (1000, 0.5)],
        revoke_n=10_000,
        revoke_floor_sizes=[10_000],
        revoke_delayed_n=3000,
        smtp_n=500,
        smtp_workers=50,
        delivery_n=2000,
        lock_iterations=200,
        lock_seconds=2,
        page_samples=50,
        http_seconds=2,
        http_rounds=1,
    ),
    "smoke": Plan(
        mode="smoke (tiny N)",
        notify_runs=[(5, 0.05)],
        revoke_n=300,
        revoke_floor_sizes=[300],
        revoke_delayed_n=100,
        smtp_n=20,
        smtp_workers=4,
        smtp_rounds=1,
        delivery_n=20,
        lock_iterations=10,
        lock_processes=2,
        lock_seconds=0.3,
        page_samples=3,
        http_seconds=1,
        http_rounds=1,
        http_warmup=False,
    ),
}


def _args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[1])
    parser.add_argument(
        "--db", default=os.environ.get("BENCH_DB") or "sqlite", help="sqlite (default) or postgres"
    )
    parser.add_argument(
        "--quick", action="store_true", default=os.environ.get("BENCH_QUICK", "") not in ("", "0")
    )
    parser.add_argument("--smoke", action="store_true", help="tiny N, for tests/test_bench_smoke.py")
    parser.add_argument("--out", type=Path, help="Markdown file to update (default: docs/benchmarks.md)")
    parser.add_argument("--work-dir", type=Path, default=BENCH_DIR, help="SQLite file, results JSON")
    parser.add_argument("--pg-url", help="PostgreSQL URL of the bench database (default: BENCH_PG_URL)")
    parser.add_argument(
        "--only",
        default="",
        help="comma-separated sections: lock,notifications,smtp,revoke,export,pages,deliveries,million",
    )
    parser.add_argument("--keep-db", action="store_true", help="do not drop the bench database at the end")
    parser.add_argument(
        "--million",
        action="store_true",
        default=os.environ.get("BENCH_MILLION", "") not in ("", "0"),
        help="also the request lists at 1,000,000 rows (PostgreSQL; BENCH_MILLION=1)",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = _args(argv)
    plan = PLANS["smoke" if args.smoke else "quick" if args.quick else "full"]
    work_dir = args.work_dir.resolve()
    work_dir.mkdir(parents=True, exist_ok=True)
    only = {s.strip() for s in args.only.split(",") if s.strip()}
    out = args.out or (
        ROOT / "docs" / "benchmarks.md" if plan is PLANS["full"] and not only else work_dir / "benchmarks.md"
    )

    bench_db = bench_database(db=args.db, work_dir=work_dir, pg_url=args.pg_url)
    started = time.monotonic()
    load_before = os.getloadavg()[0]
    print(f"bench: {plan.mode} on {bench_db.vendor} ({bench_db.name})", flush=True)
    database_create(bench_db)
    settings_env = environ_prepare(bench_db=bench_db, work_dir=work_dir)

    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connections

    from bench.report import document_update, machine_info, section_markdown, table_text
    from bench.stats import Results, Row

    try:
        call_command("migrate", verbosity=0, interactive=False)
        results = Results()
        sampler_args = {"vendor": bench_db.vendor, "db_name": bench_db.name, "conninfo": bench_db.url}
        failed_sections = []

        def section(name: str, run) -> None:
            if only and name not in only:
                return
            try:
                run()
            except Exception as exc:  # one broken section must not hide the others' figures
                traceback.print_exc()
                failed_sections.append(name)
                results.add(
                    Row(
                        name, "did not run to the end", "error", "runs", False, f"{type(exc).__name__}: {exc}"
                    )
                )

        from bench.lock import lock_bench

        section(
            "lock",
            lambda: lock_bench(
                results=results,
                iterations=plan.lock_iterations,
                processes=plan.lock_processes,
                seconds=plan.lock_seconds,
            ),
        )

        def notifications():
            from bench.notifications import notifications_bench

            notifications_bench(results=results, runs=plan.notify_runs, sampler_args=sampler_args)

        def smtp():
            from bench.smtp import smtp_bench

            smtp_bench(results=results, n=plan.smtp_n, workers=plan.smtp_workers, rounds=plan.smtp_rounds)

        def revoke():
            from bench.revoke import (
                revoke_bench,
                revoke_delayed_network_bench,
                revoke_events_overhead,
                revoke_floor_bench,
            )

            revoke_bench(results=results, n=plan.revoke_n)
            revoke_events_overhead(results=results, n=plan.revoke_n)
            revoke_floor_bench(results=results, sizes=plan.revoke_floor_sizes)
            revoke_delayed_network_bench(results=results, n=plan.revoke_delayed_n)

        def pages():
            from bench.pages import pages_bench

            pages_bench(
                results=results,
                samples=plan.page_samples,
                http_seconds=plan.http_seconds,
                http_rounds=plan.http_rounds,
                http_warmup=plan.http_warmup,
            )

        def million():
            from bench.million import million_bench

            million_bench(results=results, samples=plan.million_samples)

        def export():
            from bench.export import export_bench

            export_bench(results=results, n=plan.revoke_n)

        def deliveries():
            from bench.delivery import delivery_bench

            delivery_bench(results=results, n=plan.delivery_n)

        section("notifications", notifications)
        section("smtp", smtp)
        section("revoke", revoke)
        section("export", export)
        section("pages", pages)
        section("deliveries", deliveries)
        if args.million or "million" in only:
            section("million", million)

        elapsed = time.monotonic() - started
        if any(row.passed is False for row in results.rows):
            results.notes.append("Missed targets: their causes and proposed fixes are under Findings above.")
        results.notes.append(
            f"Whole run: {elapsed / 60:.1f} min; 1-minute load average {load_before:.1f} at the start, "
            f"{os.getloadavg()[0]:.1f} at the end ({os.cpu_count()} CPUs, shared with other work: figures are noisy)."
        )
        info = machine_info()
        shown = {
            k: settings_env[k]
            for k in (
                "DEBUG",
                "EMAIL_BACKEND",
                "REVOKE_DELAY_SECONDS",
                "ROOT_URLCONF",
                "STATICFILES_MANIFEST",
            )
        }
        shown.update(
            {
                "DATABASE_URL": bench_db.url
                if bench_db.vendor != "sqlite"
                else "sqlite:///var/bench/bench.sqlite3",
                "DB_POOL_MAX_SIZE": settings.DB_POOL_MAX_SIZE
                if bench_db.vendor == "postgresql"
                else "n/a (SQLite)",
                "CONN_MAX_AGE": settings.DATABASES["default"].get("CONN_MAX_AGE", 0),
                "pool": settings.DATABASES["default"].get("OPTIONS", {}).get("pool", "none"),
                "REVOKE_CHUNK_SIZE": settings.REVOKE_CHUNK_SIZE,
                "NOTIFY_MAX_WORKERS": "min(N, 1000), per run",
                "NOTIFY_SEND_DELAY_SECONDS": "per run (see the table)",
                "gunicorn": "gthread, workers {}, threads {} (bench/gunicorn.conf.py)".format(
                    os.environ["BENCH_GUNICORN_WORKERS"],
                    os.environ["BENCH_GUNICORN_THREADS"],
                ),
            }
        )
        section_text = section_markdown(
            vendor=bench_db.vendor, results=results, info=info, settings_used=shown, mode=plan.mode
        )
        document_update(path=out, vendor=bench_db.vendor, section=section_text)
        raw_path = work_dir / f"results-{bench_db.vendor}.json"
        raw_path.write_text(
            json.dumps(
                {"info": info, "plan": plan.mode, "rows": [r.as_dict() for r in results.rows], **results.raw},
                indent=1,
            )
        )
        print()
        print(table_text(results))
        print(f"\nbench: {elapsed:.0f} s; wrote {out} and {raw_path}")
        return 1 if failed_sections else 0
    finally:
        connections.close_all()
        if not args.keep_db:
            database_drop(bench_db)


if __name__ == "__main__":
    sys.exit(main())
