"""`manage.py run_revoke`: run the revoke job once (cron, systemd timers, Kubernetes CronJobs:
docs/scheduling.md). Exit 0 done, 75 another run holds the lock, 1 the run failed."""

import json

from django.core.management.base import BaseCommand

from jobs.api import revoke_result_json
from jobs.management.commands._job_command import job_command_run
from jobs.revoke import revoke_expired_run


class Command(BaseCommand):
    help = "Revoke every Active access request whose expiry date has passed (under the job lock)."

    def add_arguments(self, parser):
        parser.add_argument("--json", action="store_true", help="Print the result as one JSON object.")

    def handle(self, *args, **options):
        result = job_command_run(
            self, lambda: revoke_expired_run(triggered_by="run_revoke"), as_json=options["json"]
        )
        if options["json"]:
            self.stdout.write(json.dumps(revoke_result_json(result)))
            return
        at = f" at {result.revoked_at.isoformat()}" if result.revoked_at else ""
        self.stdout.write(f"{result.message} Revoked: {result.revoked_count}{at} (job {result.job_id}).")
