"""`python manage.py run_notifications`: send the due expiry reminders once, for cron,
systemd timers and Kubernetes CronJobs (see docs/scheduling.md).

Exit status: 0 done (also when some sends failed: they are listed, and the next run
retries them), 75 (EX_TEMPFAIL) another run holds the lock, 1 the run failed, 2 bad
options (test mode refused or a malformed --fail-email). Safe to schedule on every
server: the database lock lets one run.
"""

import json
import sys

from django.core.management.base import BaseCommand

from jobs.lock import LockHeld, LockLost, sigterm_as_interrupt
from jobs.management.commands._job_command import EXIT_FAILED, EXIT_USAGE, exit_locked
from jobs.notifications import NotificationJobFailed, NotifyOptionsError, notifications_send


class Command(BaseCommand):
    help = "Send the due expiry reminders by email, in parallel, under the job lock."

    def add_arguments(self, parser):
        parser.add_argument(
            "--simulate-failures",
            action="store_true",
            help="Test mode (TEST_MODE on): fail about half of the sends at random.",
        )
        parser.add_argument(
            "--fail-email",
            action="append",
            default=[],
            metavar="EMAIL",
            help="Test mode (TEST_MODE on): fail the sends to this address (repeatable).",
        )
        parser.add_argument("--json", action="store_true", help="Print the result as one JSON object.")

    def handle(self, *args, **options):
        as_json = options["json"]
        try:
            with sigterm_as_interrupt():
                result = notifications_send(
                    triggered_by="run_notifications",
                    simulate_failures=options["simulate_failures"],
                    fail_emails=options["fail_email"],
                )
        except NotifyOptionsError as bad:
            self.stderr.write(str(bad))
            sys.exit(EXIT_USAGE)
        except LockHeld as held:
            exit_locked(self, held, job_title="notification", as_json=as_json)
        except (NotificationJobFailed, LockLost) as failed:
            self.stderr.write(str(failed))
            sys.exit(EXIT_FAILED)
        except KeyboardInterrupt:
            self.stderr.write("Interrupted: the run was released as Failed.")
            sys.exit(EXIT_FAILED)
        if as_json:
            self.stdout.write(json.dumps(result))
            return
        perf = result["performance"]
        self.stdout.write(f"{result['message']} (job {result['jobId']})")
        for sent in result["notifications"]:
            self.stdout.write(
                f"  sent    {sent['requestId']}  {sent['email']}  {sent['type']}  "
                f"{sent['daysLeft']} days left"
            )
        for failure in result["failures"]:
            self.stdout.write(f"  FAILED  {failure['requestId']}  {failure['email']}  {failure['error']}")
        if perf["workers"]:
            self.stdout.write(
                f"{perf['parallelSeconds']:.2f} s in parallel on {perf['workers']} workers; "
                f"sequentially about {perf['estimatedSequentialSeconds']:.2f} s"
                + (f" ({perf['speedup']}× faster)." if perf["speedup"] else ".")
            )
