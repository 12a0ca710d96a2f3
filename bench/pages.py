"""Benchmark 4: the pages and the status poll endpoints, with the table already full
(the revoke benchmark leaves N requests in it).

- Server time, in process: Django's test Client, logged in, timing each request
  (p50 / p95), the endpoints interleaved so noise hits them alike. Baseline: the bare
  logged-in /bench/hello view (bench/urls.py) through the same middleware.
- Requests per second under gunicorn (gthread; bench/gunicorn.conf.py), loaded from a
  second process on 127.0.0.1 (`wrk` when installed, else bench/loadgen.py), the poll
  endpoints against /bench/hello served by the same gunicorn, rounds interleaved,
  median of the rounds.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request

from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from bench.data import bench_user
from bench.env import ROOT
from bench.stats import Results, Row, ms, percentile
from requests_app.models import UserAccessRequest
from requests_app.selectors import PAGE_SIZE

PAGE_P95_TARGET = 0.050
RPS_TARGET = 0.70
HTMX = {"HX-Request": "true"}
ANONYMOUS_HELLO = "open hello (no login, no session read)"


def _endpoints(rows: int) -> list[tuple[str, str, dict]]:
    """(label, path, extra headers). Page 1,000 when the table has that many pages,
    else its last page."""
    deep = min(1000, max(1, math.ceil(rows / PAGE_SIZE)))
    return [
        ("hello", "/bench/hello", {}),
        ("All Requests, page 1", "/", {}),
        (f"All Requests, page {deep:,}", f"/?page={deep}", {}),
        ("Revoke banner partial (HTMX poll)", "/jobs/revoke/banner/", HTMX),
        ("Revoke status API (poll)", "/api/access-requests/revoke-job-status", {}),
    ]


def _server_times(client: Client, endpoints, samples: int) -> dict[str, dict]:
    times: dict[str, list[float]] = {label: [] for label, _, _ in endpoints}
    statuses: dict[str, set[int]] = {label: set() for label, _, _ in endpoints}
    queries: dict[str, int] = {}
    for _ in range(3):  # warm-up: templates, URL resolver, query plans
        for _label, path, headers in endpoints:
            client.get(path, headers=headers)
    for label, path, headers in endpoints:  # one untimed request each, counting its queries
        with CaptureQueriesContext(connection) as captured:
            client.get(path, headers=headers)
        queries[label] = len(captured.captured_queries)
    for _ in range(samples):
        for label, path, headers in endpoints:
            start = time.perf_counter()
            response = client.get(path, headers=headers)
            times[label].append(time.perf_counter() - start)
            statuses[label].add(response.status_code)
    return {
        label: {
            "p50": percentile(values, 50),
            "p95": percentile(values, 95),
            "n": len(values),
            "statuses": sorted(statuses[label]),
            "queries": queries[label],
        }
        for label, values in times.items()
    }


# --- gunicorn -----------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _gunicorn_start(port: int) -> subprocess.Popen:
    env = dict(os.environ, BENCH_GUNICORN_BIND=f"127.0.0.1:{port}")
    gunicorn = shutil.which("gunicorn", path=os.path.dirname(sys.executable)) or "gunicorn"
    proc = subprocess.Popen([gunicorn, "-c", str(ROOT / "bench" / "gunicorn.conf.py")], cwd=ROOT, env=env)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"gunicorn exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/bench/hello-open", timeout=2) as response:
                if response.status == 200:
                    return proc
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError("gunicorn did not answer within 60 s")


def _wrk(url: str, *, seconds: float, connections: int, headers: dict[str, str]) -> dict:
    args = ["wrk", "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s"]
    for name, value in headers.items():
        args += ["-H", f"{name}: {value}"]
    out = subprocess.run(
        [*args, url], capture_output=True, text=True, timeout=seconds + 60, check=True
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    errors = re.search(r"Socket errors:.*", out)
    return {
        "rps": rps,
        "non2xx": int(bad.group(1)) if bad else 0,
        "socketErrors": errors.group(0) if errors else "",
    }


def _pyload(url: str, *, seconds: float, connections: int, headers: dict[str, str]) -> dict:
    args = [sys.executable, "-m", "bench.loadgen", url, "--seconds", str(seconds)]
    args += ["--connections", str(connections)]
    for name, value in headers.items():
        args += ["--header", f"{name}: {value}"]
    out = subprocess.run(
        args, cwd=ROOT, capture_output=True, text=True, timeout=seconds + 60, check=True
    ).stdout
    result = json.loads(out.strip().splitlines()[-1])
    non2xx = sum(v for k, v in result["statuses"].items() if k != "200")
    return {"rps": result["rps"], "non2xx": non2xx, "socketErrors": ""}


def _throughput(
    *, port: int, cookie: str, endpoints, seconds: float, rounds: int, connections: int, warmup: bool
) -> dict:
    tool = "wrk" if shutil.which("wrk") else "python"
    load = _wrk if tool == "wrk" else _pyload
    measured: dict[str, list[dict]] = {label: [] for label, _, _ in endpoints}

    def with_cookie(label: str, headers: dict) -> dict:
        return headers if label == ANONYMOUS_HELLO else {**headers, "Cookie": cookie}

    for label, path, headers in endpoints if warmup else []:  # warm-up: imports, templates, plans
        load(
            f"http://127.0.0.1:{port}{path}",
            seconds=1,
            connections=connections,
            headers=with_cookie(label, headers),
        )
    for number in range(rounds):
        # Alternate the order each round, so no endpoint always follows the same one.
        for label, path, headers in endpoints if number % 2 == 0 else endpoints[::-1]:
            measured[label].append(
                load(
                    f"http://127.0.0.1:{port}{path}",
                    seconds=seconds,
                    connections=connections,
                    headers=with_cookie(label, headers),
                )
            )
    base = [r["rps"] for r in measured["hello"]]
    floor = [r["rps"] for r in measured[ANONYMOUS_HELLO]]
    return {
        "tool": tool,
        "endpoints": {
            label: {
                "rps": _median([r["rps"] for r in runs]),
                "rounds": [round(r["rps"], 1) for r in runs],
                "non2xx": sum(r["non2xx"] for r in runs),
                # The machine's speed drifts between rounds: compare each round with the hello
                # measured next to it, then take the median of those ratios.
                "vsHello": _median([r["rps"] / b for r, b in zip(runs, base, strict=True) if b]),
                "vsFloor": _median([r["rps"] / f for r, f in zip(runs, floor, strict=True) if f]),
            }
            for label, runs in measured.items()
        },
    }


def _median(values: list[float]) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def pages_bench(
    *, results: Results, samples: int, http_seconds: float, http_rounds: int, http_warmup: bool = True
) -> None:
    section = "Pages"
    rows = UserAccessRequest.objects.count()
    print(f"== pages: {rows:,} requests in the table; {samples} timed requests per endpoint in process")
    client = Client()
    client.force_login(bench_user())
    endpoints = _endpoints(rows)
    timed = _server_times(client, endpoints, samples)
    results.raw["pages"] = {"rows": rows, "serverTime": timed}
    hello = timed["hello"]
    for label, _path, _headers in endpoints[1:]:
        t = timed[label]
        ok = t["statuses"] == [200]
        is_page = label.startswith("All Requests")
        results.add(
            Row(
                section,
                f"{label}: server time p50 / p95",
                f"{ms(t['p50'])} / {ms(t['p95'])}",
                target=f"p95 ≤ {PAGE_P95_TARGET * 1000:g} ms" if is_page else "",
                passed=(t["p95"] <= PAGE_P95_TARGET and ok) if is_page else (None if ok else False),
                detail=f"{t['n']} requests, {t['queries']} queries each, {rows:,} rows; "
                f"p50 = {t['p50'] / hello['p50']:.1f}× hello ({ms(hello['p50'])})"
                + ("" if ok else f"; HTTP {t['statuses']}"),
            )
        )

    port = _free_port()
    cookie = f"sessionid={client.cookies['sessionid'].value}"
    connections = int(os.environ["BENCH_GUNICORN_WORKERS"]) * int(os.environ["BENCH_GUNICORN_THREADS"])
    polls = [endpoints[0], endpoints[3], endpoints[4], (ANONYMOUS_HELLO, "/bench/hello-open", {})]
    print(f"== pages: gunicorn gthread on 127.0.0.1:{port}, {http_rounds} rounds × {http_seconds:g} s each")
    proc = _gunicorn_start(port)
    try:
        throughput = _throughput(
            port=port,
            cookie=cookie,
            endpoints=polls,
            seconds=http_seconds,
            rounds=http_rounds,
            connections=connections,
            warmup=http_warmup,
        )
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    results.raw["pages"]["gunicorn"] = throughput
    base = throughput["endpoints"]["hello"]
    floor = throughput["endpoints"][ANONYMOUS_HELLO]
    for label, _path, _headers in polls[1:3]:
        got = throughput["endpoints"][label]
        ratio = got["vsHello"]
        ok = got["non2xx"] == 0 and base["non2xx"] == 0
        results.add(
            Row(
                section,
                f"{label}: requests/s under gunicorn vs bare view",
                f"{ratio:.0%}",
                target=f"≥ {RPS_TARGET:.0%}",
                passed=ratio >= RPS_TARGET and ok,
                detail=(
                    f"median {got['rps']:,.0f} vs hello {base['rps']:,.0f} req/s, same session cookie; "
                    f"figure = median of {http_rounds} per-round ratios, rounds of {http_seconds:g} s, "
                    f"{connections} keep-alive connections, {throughput['tool']}; {got['vsFloor']:.0%} of "
                    f"the open hello, which reads no session ({floor['rps']:,.0f} req/s)"
                    + ("" if ok else f"; non-2xx: {got['non2xx']} / hello {base['non2xx']}")
                ),
            )
        )
