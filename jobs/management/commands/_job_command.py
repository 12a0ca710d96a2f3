"""What the job commands share: their exit codes and how they end a run that did not complete."""

import json
import sys

from django.core.management.base import BaseCommand

from jobs.api import conflict_json, failed_json
from jobs.lock import LockHeld
from jobs.runner import JobFailed
from jobs.signals import sigterm_as_interrupt

EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_SENDS_FAILED = 3  # the run completed, but some sends failed (retried by the next run)
EXIT_LOCKED = 75  # EX_TEMPFAIL: try again later


def job_command_run(command: BaseCommand, start, *, as_json: bool):
    """Run `start()` with SIGTERM as an interrupt and return its result. Exits 75 when the
    lock is held, 1 when the run failed or was interrupted (its row is then Failed)."""
    try:
        with sigterm_as_interrupt():
            return start()
    except (LockHeld, JobFailed) as stopped:
        held = isinstance(stopped, LockHeld)
        if as_json:
            command.stdout.write(json.dumps(conflict_json(stopped) if held else failed_json(stopped)))
        else:
            command.stderr.write(f"{stopped} Not running." if held else f"{stopped} (job {stopped.job_id})")
        sys.exit(EXIT_LOCKED if held else EXIT_FAILED)
    except KeyboardInterrupt as interrupted:
        command.stderr.write(f"{interrupted or 'Interrupted'}: the run was released as Failed.")
        sys.exit(EXIT_FAILED)
