"""A management command in a child process, as a scheduler starts it, and a bounded wait.

run = ManageCommand(["run_revoke", "--json"], env=proxied_env, log_dir=tmp_path, name="a")
...                                   # fault it: proxy.cut(), run.process.send_signal(...)
code, result = run.wait()             # exit status, and its last stdout line as JSON
"""

import json
import subprocess
import time

import pytest

from tests.conftest import PYTHON, ROOT

WAIT_SECONDS = 60  # the most any fault test waits for something that must happen


class ManageCommand:
    """`manage.py <args>` with `env` (SERVER_NAME=name, so its runs say who they were);
    stdout and stderr go to files in log_dir (`stderr` is read back by wait())."""

    def __init__(self, args: list[str], *, env: dict, log_dir, name: str):
        self.log = open(log_dir / f"{name}.log", "w+")  # noqa: SIM115 - closed in wait()
        self.out = open(log_dir / f"{name}.out", "w+")  # noqa: SIM115 - closed in wait()
        self.stderr = ""
        self.process = subprocess.Popen(
            [PYTHON, "manage.py", *args],
            cwd=ROOT,
            env={**env, "SERVER_NAME": name},
            stdout=self.out,
            stderr=self.log,
        )

    def wait(self) -> tuple[int, dict | None]:
        code = self.process.wait(timeout=WAIT_SECONDS)
        self.out.seek(0)
        lines = self.out.read().strip().splitlines()
        self.log.seek(0)
        self.stderr = self.log.read()
        self.out.close()
        self.log.close()
        return code, json.loads(lines[-1]) if lines and lines[-1].startswith("{") else None


def wait_for(condition, what: str):
    """Poll `condition` until it returns something true (returned), at most WAIT_SECONDS."""
    deadline = time.monotonic() + WAIT_SECONDS
    while not (value := condition()):
        if time.monotonic() > deadline:
            pytest.fail(f"gave up waiting for {what}")
        time.sleep(0.01)
    return value
