"""What the two job commands (run_revoke, run_notifications) share: their exit codes and
the answer to a refused start."""

import json
import sys

from django.core.management.base import BaseCommand

from jobs.lock import LockHeld

EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_LOCKED = 75  # EX_TEMPFAIL: try again later


def exit_locked(command: BaseCommand, held: LockHeld, *, job_title: str, as_json: bool):
    """Say who holds the lock and since when, then exit 75."""
    job = held.active_job or {}
    if as_json:
        command.stdout.write(json.dumps({"message": str(held), "activeJob": held.active_job}))
    else:
        command.stderr.write(
            f"Another {job_title} run holds the lock: started by {job.get('startedBy', '?')} "
            f"since {job.get('startedAt', '?')} (job {job.get('jobId', '?')}). Not running."
        )
    sys.exit(EXIT_LOCKED)
