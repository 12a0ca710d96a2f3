"""Small helpers shared by the benchmarks: percentiles, result rows, and a sampler
thread that records peak database connections and peak memory during a run."""

from __future__ import annotations

import math
import os
import resource
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path


def percentile(values: list[float], pct: float) -> float:
    """Nearest-rank percentile (pct in 0..100) of a non-empty list."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return ordered[rank - 1]


def ms(seconds: float) -> str:
    """A duration in milliseconds with 3 significant digits (0.0421 ms, 1.23 ms, 456 ms)."""
    value = seconds * 1000
    if value >= 100:
        return f"{value:.0f} ms"
    return f"{value:.3g} ms"


@dataclass
class Row:
    """One line of the results table."""

    section: str
    metric: str
    value: str  # the figure, as shown
    target: str = ""  # e.g. "≥ 0.95"; empty when the row is informative only
    passed: bool | None = None  # None: no target
    detail: str = ""  # the measurements the figure is computed from

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass
class Results:
    rows: list[Row] = field(default_factory=list)
    raw: dict = field(default_factory=dict)  # every measurement, written as JSON beside the report
    notes: list[str] = field(default_factory=list)

    def add(self, row: Row) -> Row:
        self.rows.append(row)
        print(f"  {row.metric}: {row.value}" + (f"  [{row.detail}]" if row.detail else ""), flush=True)
        return row


def rss_bytes() -> int:
    """This process's resident set size now (Linux), else its peak so far."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def sqlite_connections(path: str) -> int:
    """Open SQLite connections of this process to the database file: each connection holds
    one file descriptor on it (Linux /proc; -1 where that is not available)."""
    fd_dir = Path("/proc/self/fd")
    if not fd_dir.exists():
        return -1
    real = os.path.realpath(path)
    count = 0
    for fd in fd_dir.iterdir():
        try:
            if os.readlink(fd) == real:
                count += 1
        except OSError:
            continue
    return count


class PeakSampler:
    """Samples, every `interval` seconds while a run is in progress, the number of
    database connections (PostgreSQL: pg_stat_activity for the bench database, from a
    separate connection that does not count itself; SQLite: this process's open handles
    on the file) and this process's RSS. Use as a context manager around the run."""

    def __init__(self, *, vendor: str, db_name: str, conninfo: str = "", interval: float = 0.05):
        self.vendor = vendor
        self.db_name = db_name
        self.conninfo = conninfo
        self.interval = interval
        self.peak_connections = 0
        self.peak_rss = 0
        self.rss_before = 0
        self.samples = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._pg = None

    def _connections(self) -> int:
        if self.vendor == "postgresql":
            row = self._pg.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
                [self.db_name],
            ).fetchone()
            return int(row[0])
        return sqlite_connections(self.db_name)

    def _sample(self) -> None:
        self.peak_connections = max(self.peak_connections, self._connections())
        self.peak_rss = max(self.peak_rss, rss_bytes())
        self.samples += 1

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self._sample()

    def __enter__(self) -> PeakSampler:
        if self.vendor == "postgresql":
            import psycopg

            self._pg = psycopg.connect(self.conninfo, autocommit=True)
        self.rss_before = rss_bytes()
        self._sample()
        self._thread = threading.Thread(target=self._loop, name="bench-sampler", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join()
        self._sample()
        if self._pg is not None:
            self._pg.close()

    @property
    def peak_rss_growth_mb(self) -> float:
        return max(0, self.peak_rss - self.rss_before) / 2**20


class Stopwatch:
    def __enter__(self) -> Stopwatch:
        self.start = time.perf_counter()
        self.seconds = 0.0
        return self

    def __exit__(self, *exc) -> None:
        self.seconds = time.perf_counter() - self.start
