"""A small, bounded HTTP load client, used when `wrk` is not installed:

    python -m bench.loadgen http://127.0.0.1:8765/bench/hello --seconds 5 --connections 8 \
        --header "Cookie: sessionid=..."

`connections` threads, each with one keep-alive http.client connection, send GETs
back to back for `seconds`; prints one JSON line {requests, seconds, rps, statuses}.
A Python client spends CPU of its own, so compare its figures only with each other
(the bench reports ratios measured with the same client in the same run)."""

from __future__ import annotations

import argparse
import http.client
import json
import threading
import time
from collections import Counter
from urllib.parse import urlsplit


def load_run(*, url: str, seconds: float, connections: int, headers: dict[str, str]) -> dict:
    parts = urlsplit(url)
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    statuses: Counter = Counter()
    lock = threading.Lock()
    deadline = time.perf_counter() + seconds

    def client() -> None:
        mine: Counter = Counter()
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
        while time.perf_counter() < deadline:
            try:
                conn.request("GET", target, headers=headers)
                response = conn.getresponse()
                response.read()
                mine[response.status] += 1
            except (OSError, http.client.HTTPException):
                mine["error"] += 1
                conn.close()
                conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
        conn.close()
        with lock:
            statuses.update(mine)

    started = time.perf_counter()
    threads = [threading.Thread(target=client) for _ in range(connections)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    total = sum(statuses.values())
    return {
        "requests": total,
        "seconds": elapsed,
        "rps": statuses.get(200, 0) / elapsed,
        "statuses": {str(k): v for k, v in statuses.items()},
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--header", action="append", default=[])
    args = parser.parse_args()
    headers = dict(h.split(": ", 1) for h in args.header)
    print(
        json.dumps(
            load_run(url=args.url, seconds=args.seconds, connections=args.connections, headers=headers)
        )
    )


if __name__ == "__main__":
    main()
