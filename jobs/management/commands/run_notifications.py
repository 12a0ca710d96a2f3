"""`manage.py run_notifications`: send the due expiry reminders once (docs/scheduling.md).
Exit 0 done, 3 done but some sends failed (the next run retries them) or were sent but could
not be recorded (the next run may send them again), 75 another run holds
the lock, 1 the run failed, 2 bad options."""

import json
import sys

from django.core.management.base import BaseCommand

from jobs.api import notification_result_json
from jobs.management.commands._job_command import EXIT_SENDS_FAILED, EXIT_USAGE, job_command_run
from jobs.notifications import NotifyOptionsError, notifications_send


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
        def start():
            return notifications_send(
                triggered_by="run_notifications",
                simulate_failures=options["simulate_failures"],
                fail_emails=options["fail_email"],
            )

        try:
            result = job_command_run(self, start, as_json=options["json"])
        except NotifyOptionsError as bad:
            self.stderr.write(str(bad))
            sys.exit(EXIT_USAGE)
        if options["json"]:
            self.stdout.write(json.dumps(notification_result_json(result)))
        else:
            self._print(result)
        if result.failed or result.unrecorded:
            sys.exit(EXIT_SENDS_FAILED)

    def _print(self, result):
        self.stdout.write(f"{result.message} (job {result.job_id})")
        for sent in result.sent:
            self.stdout.write(
                f"  sent    {sent.request_id}  {sent.email}  {sent.reminder}  {sent.days_left} days left"
            )
        for failure in result.failed:
            self.stdout.write(f"  FAILED  {failure.request_id}  {failure.email}  {failure.error}")
        for unrecorded in result.unrecorded:
            self.stdout.write(
                f"  SENT, NOT RECORDED (held in doubt)  {unrecorded.request_id}  {unrecorded.email}  "
                f"{unrecorded.error}"
            )
        if result.workers:
            self.stdout.write(
                f"{result.parallel_seconds:.2f} s in parallel on {result.workers} workers; "
                f"sequentially about {result.estimated_sequential_seconds:.2f} s"
                + (f" ({result.speedup}× faster)." if result.speedup else ".")
            )
