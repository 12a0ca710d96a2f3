"""Benchmark: the delivery job sending N webhook events to a local receiver that answers
each in 50 ms. Figures: events/s, the ratio to the ideal N × 50 ms / workers (1.0 = the pool
never idles), and the receiver's peak of open connections (≤ workers: reused, bounded)."""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from django.db.models.expressions import RawSQL
from django.test import override_settings

from bench.stats import Results, Row, Stopwatch
from jobs.delivery import deliver_events_run
from jobs.dialects import dialect_for
from webhooks.models import CREATED, WebhookDelivery, WebhookEvent
from webhooks.services import endpoint_create

LATENCY = 0.05
TARGET = 0.8  # of the ideal


class _SlowReceiver:
    def __init__(self):
        self.open = self.peak = self.requests = 0
        self._lock = threading.Lock()
        gauge = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def setup(self):
                super().setup()
                with gauge._lock:
                    gauge.open += 1
                    gauge.peak = max(gauge.peak, gauge.open)

            def finish(self):
                super().finish()
                with gauge._lock:
                    gauge.open -= 1

            def do_POST(self):
                self.rfile.read(int(self.headers.get("content-length", 0)))
                time.sleep(LATENCY)  # the receiver's work: what the pool must overlap
                with gauge._lock:
                    gauge.requests += 1
                self.send_response(200)
                self.send_header("content-length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"

    def __enter__(self):
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


def _events_create(n: int) -> None:
    now = RawSQL(dialect_for().now, [])
    data = {"requestId": "REQ-BENCH", "requestorEmail": "bench@example.com", "resourceName": "VPN"}
    WebhookEvent.objects.bulk_create(
        [
            WebhookEvent(type=CREATED, request_id=f"REQ-BENCH-{i:06d}", data=data, created_at=now)
            for i in range(n)
        ],
        batch_size=1000,
    )


def delivery_bench(*, results: Results, n: int, workers: int = 8) -> None:
    section = "Webhook delivery"
    print(
        f"== deliveries: {n:,} events to a receiver answering in {LATENCY * 1000:.0f} ms, {workers} workers"
    )
    WebhookDelivery.objects.all().delete()
    WebhookEvent.objects.all().delete()
    with (
        override_settings(WEBHOOK_ALLOW_PRIVATE_NETWORKS=True, WEBHOOK_MAX_WORKERS=workers),
        _SlowReceiver() as receiver,
    ):
        endpoint_create(url=receiver.url)
        _events_create(n)
        with Stopwatch() as run:
            result = deliver_events_run(triggered_by="bench")
    ok = result.delivered_count == n == receiver.requests
    ideal = n * LATENCY / workers
    ratio = ideal / run.seconds
    results.raw["delivery"] = {
        "n": n,
        "workers": workers,
        "seconds": run.seconds,
        "eventsPerSecond": n / run.seconds,
        "ideal": ideal,
        "ratio": ratio,
        "peakConnections": receiver.peak,
        "ok": ok,
    }
    results.add(
        Row(
            section,
            f"Deliver {n:,} events (receiver 50 ms, {workers} workers): share of the ideal",
            f"{ratio:.2f}",
            target=f"≥ {TARGET:g}",
            passed=ok and ratio >= TARGET,
            detail=(
                f"{run.seconds:.2f} s = {n / run.seconds:,.0f} events/s; ideal N × 50 ms / workers = "
                f"{ideal:.2f} s; peak {receiver.peak} open connections at the receiver"
                + ("" if ok else f" — DELIVERED {result.delivered_count}, RECEIVED {receiver.requests}")
            ),
        )
    )
