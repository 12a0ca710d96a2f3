"""Benchmark: the notification job against a real SMTP server (aiosmtpd on 127.0.0.1,
started here: tests/faults/smtp.py, the tests' one SMTP server), delay 0. The job reuses one SMTP connection per worker;
"one per email" is the way each send opened and closed its own connection
(`message.send()`), measured on the same pool of threads, same emails. Interleaved rounds,
medians: connections the server saw, and milliseconds of wall time per email."""

from __future__ import annotations

import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from django.test import override_settings

from bench.data import requests_create, tables_clear
from bench.stats import Results, Row
from jobs.notifications import notification_emails, notifications_send, pending_notifications
from tests.faults.smtp import SmtpSink


def _email_settings(sink: SmtpSink) -> dict:
    return {
        "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
        "EMAIL_HOST": "127.0.0.1",
        "EMAIL_PORT": sink.port,
        "EMAIL_USE_TLS": False,
        "EMAIL_USE_SSL": False,
    }


def _one_connection_per_email(*, workers: int) -> float:
    """Send every due reminder with message.send() (a connection each); seconds."""
    items = pending_notifications()
    build = notification_emails()  # rendered as the job renders them: only the connections differ
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=workers) as pool:
        list(pool.map(lambda item: build(item).send(), items))
    return time.monotonic() - started


def smtp_bench(*, results: Results, n: int, workers: int, rounds: int) -> None:
    section = "Real SMTP"
    print(f"== real SMTP: {n:,} reminders, {workers} workers, {rounds} interleaved rounds")
    raw = {"n": n, "workers": workers, "job": [], "perEmail": []}
    with SmtpSink() as sink, override_settings(**_email_settings(sink), NOTIFY_SEND_DELAY_SECONDS=0):
        for round_ in range(rounds):
            for way in ("perEmail", "job") if round_ % 2 else ("job", "perEmail"):
                tables_clear()
                requests_create(count=n, expires_in=timedelta(days=20, hours=12), prefix=f"SMTP{round_}")
                before_conn, before_msgs = sink.connections, len(sink.delivered)
                if way == "job":
                    with override_settings(NOTIFY_MAX_WORKERS=workers):
                        started = time.monotonic()
                        result = notifications_send(triggered_by="bench")
                        seconds = time.monotonic() - started
                    ok = len(result.sent) == n and not result.failed
                else:
                    seconds = _one_connection_per_email(workers=workers)
                    ok = True
                delivered = len(sink.delivered) - before_msgs
                raw[way].append(
                    {
                        "seconds": seconds,
                        "connections": sink.connections - before_conn,
                        "delivered": delivered,
                        "ok": ok and delivered == n,
                    }
                )
    results.raw["smtp"] = raw

    def median(way: str, key: str) -> float:
        return statistics.median(r[key] for r in raw[way])

    job_ms, per_email_ms = median("job", "seconds") * 1000 / n, median("perEmail", "seconds") * 1000 / n
    job_conn, per_email_conn = median("job", "connections"), median("perEmail", "connections")
    ok = all(r["ok"] for way in ("job", "perEmail") for r in raw[way])
    results.add(
        Row(
            section,
            f"SMTP connections opened, {n:,} reminders, {workers} workers",
            f"{job_conn:.0f}",
            target=f"≤ workers ({workers})",
            passed=job_conn <= workers and ok,
            detail=f"one connection per email: {per_email_conn:.0f}; median of {rounds}"
            + ("" if ok else " — DELIVERY MISMATCH"),
        )
    )
    results.add(
        Row(
            section,
            f"Wall time per email, {n:,} reminders, {workers} workers",
            f"{job_ms:.2f} ms",
            detail=(
                f"the job (send, record, lock) vs one connection per email (send only): {per_email_ms:.2f} ms; "
                f"ratio {job_ms / per_email_ms:.2f}; median of {rounds}, interleaved"
            ),
        )
    )
