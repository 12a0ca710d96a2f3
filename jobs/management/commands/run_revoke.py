"""`python manage.py run_revoke`: run the revoke expired access job once, for cron,
systemd timers and Kubernetes CronJobs (see docs/scheduling.md).

Exit status: 0 done (also when nothing had expired), 75 (EX_TEMPFAIL) another run holds
the lock, 1 the run failed. Safe to schedule on every server: the database lock lets one run.
"""

import json
import sys

from django.core.management.base import BaseCommand

from jobs.lock import LockHeld, sigterm_as_interrupt
from jobs.management.commands._job_command import EXIT_FAILED, exit_locked
from jobs.revoke import RevokeFailed, revoke_expired_run


class Command(BaseCommand):
    help = "Revoke every Active access request whose expiry date has passed (under the job lock)."

    def add_arguments(self, parser):
        parser.add_argument("--json", action="store_true", help="Print the result as one JSON object.")

    def handle(self, *args, **options):
        as_json = options["json"]
        try:
            with sigterm_as_interrupt():  # SIGTERM releases the run as Failed, like Ctrl-C
                result = revoke_expired_run(triggered_by="run_revoke")
        except LockHeld as held:
            exit_locked(self, held, job_title="revoke", as_json=as_json)
        except RevokeFailed as failed:
            if as_json:
                self.stdout.write(json.dumps(failed.as_dict()))
            else:
                self.stderr.write(
                    f"{failed} (job {failed.job_id}, {failed.revoked_count} revoked before it failed)"
                )
            sys.exit(EXIT_FAILED)
        except KeyboardInterrupt as interrupted:
            self.stderr.write(f"{str(interrupted) or 'Interrupted'}: the run was released as Failed.")
            sys.exit(EXIT_FAILED)
        if as_json:
            self.stdout.write(json.dumps(result))
        else:
            at = f" at {result['revokedAt']}" if result["revokedAt"] else ""
            self.stdout.write(
                f"{result['message']} Revoked: {result['revokedCount']}{at} (job {result['jobId']})."
            )
