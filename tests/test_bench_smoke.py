"""The bench code, run end to end with tiny N so it does not rot. No figure is judged
here (speed targets live in bench/ and docs/benchmarks.md); only that every section runs
and the report is written. Always on its own SQLite file: never a test database."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_bench_runs_every_section_with_tiny_n_and_writes_its_report(tmp_path):
    env = {
        "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin",
        "HOME": str(tmp_path),
        "PYTHONPATH": str(ROOT),
    }
    out = tmp_path / "benchmarks.md"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench",
            "--smoke",
            "--db",
            "sqlite",
            "--work-dir",
            str(tmp_path),
            "--out",
            str(out),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    report = out.read_text()
    assert "<!-- bench:sqlite:begin -->" in report
    for figure in (
        "Acquire + release, uncontended",
        "processes contending",
        "Efficiency, N=5",
        "Peak DB connections",
        "Revoke 300 expired",
        "All Requests, page 1:",
        "Revoke status API (poll): requests/s under gunicorn",
    ):
        assert figure in report, figure
    assert "did not run to the end" not in report
    assert (tmp_path / "results-sqlite.json").exists()
    assert not (tmp_path / "bench.sqlite3").exists(), "the bench database is dropped at the end"
