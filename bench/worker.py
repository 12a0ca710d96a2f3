"""A lock contender, run as a separate OS process by bench/lock.py:

    python -m bench.worker --seconds 5

Starts Django on the bench database (the parent's environment), prints "ready", waits
for a line on stdin (the start barrier), then for `--seconds` loops acquire → release
(or acquire → refused) on the revoke job's lock, and prints one JSON line: each
attempt's latency and the number won / refused / errored. (Exclusivity itself is
proven by the race tests in tests/; this measures speed.)
"""

from __future__ import annotations

import argparse
import json
import sys
import time


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, required=True)
    args = parser.parse_args()

    import django

    django.setup()
    from django.db import connection

    from jobs.lock import LockHeld, lock_acquire
    from jobs.models import RevokeExpiredJobRun

    connection.ensure_connection()
    print("ready", flush=True)
    sys.stdin.readline()

    latencies: list[float] = []
    won = refused = errors = 0
    last_error = ""
    deadline = time.perf_counter() + args.seconds
    while time.perf_counter() < deadline:
        start = time.perf_counter()
        try:
            lock = lock_acquire(job=RevokeExpiredJobRun, triggered_by="bench-contender")
            lock.release(status="Completed", revoked_count=0)
            won += 1
        except LockHeld:
            refused += 1
        except Exception as exc:  # reported, not hidden: a contender that errors is a finding
            errors += 1
            last_error = f"{type(exc).__name__}: {exc}"
            connection.close()
        latencies.append(time.perf_counter() - start)
    connection.close()
    print(
        json.dumps(
            {
                "latencies": latencies,
                "won": won,
                "refused": refused,
                "errors": errors,
                "lastError": last_error,
                "seconds": args.seconds,
            }
        ),
        flush=True,
    )


if __name__ == "__main__":
    main()
