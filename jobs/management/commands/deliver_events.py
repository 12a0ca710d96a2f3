"""`manage.py deliver_events`: send the due webhook deliveries once (cron, systemd timers:
docs/webhooks.md). Exit 0 done (failed attempts are retried by a later run), 75 another run
holds the lock, 1 the run failed."""

import json

from django.core.management.base import BaseCommand

from jobs.delivery import DeliveryResult, deliver_events_run
from jobs.management.commands._job_command import job_command_run


def delivery_result_json(result: DeliveryResult) -> dict:
    return {
        "message": result.message,
        "jobId": result.job_id,
        "dispatchedCount": result.dispatched_count,
        "deliveredCount": result.delivered_count,
        "failedCount": result.failed_count,
        "deadCount": result.dead_count,
    }


class Command(BaseCommand):
    help = "Send the due webhook event deliveries, in parallel, under the job lock."

    def add_arguments(self, parser):
        parser.add_argument("--json", action="store_true", help="Print the result as one JSON object.")

    def handle(self, *args, **options):
        result = job_command_run(
            self, lambda: deliver_events_run(triggered_by="deliver_events"), as_json=options["json"]
        )
        if options["json"]:
            self.stdout.write(json.dumps(delivery_result_json(result)))
            return
        self.stdout.write(f"{result.message} (job {result.job_id})")
