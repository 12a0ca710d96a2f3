"""`python manage.py run_scheduler`: runs each job on its schedule (REVOKE_SCHEDULE,
NOTIFY_SCHEDULE, DELIVER_SCHEDULE, HISTORY_PRUNE_SCHEDULE) until stopped. Run one on every server: each
tick runs once, on one of them (jobs.scheduler). SIGTERM or Ctrl-C stops it; a run in
progress is released as Failed first. Exit status: 0 stopped, 2 nothing is scheduled."""

import sys

from django.core.management.base import BaseCommand

from jobs.management.commands._job_command import EXIT_USAGE
from jobs.scheduler import scheduled_jobs, scheduler_loop
from jobs.signals import sigterm_as_interrupt


class Command(BaseCommand):
    help = (
        "Run the jobs on their schedules (REVOKE_SCHEDULE, NOTIFY_SCHEDULE, DELIVER_SCHEDULE) until stopped."
    )

    def handle(self, *args, **options):
        jobs = scheduled_jobs()
        if not jobs:
            self.stderr.write(
                "Nothing to schedule: set REVOKE_SCHEDULE, NOTIFY_SCHEDULE and/or DELIVER_SCHEDULE."
            )
            sys.exit(EXIT_USAGE)
        try:
            with sigterm_as_interrupt():
                for job in jobs:
                    self.stdout.write(f"Scheduling {job.name}: {job.schedule.text} ({job.schedule.zone.key})")
                self.stdout.flush()
                scheduler_loop(jobs)
        except KeyboardInterrupt as stopped:
            self.stdout.write(f"{str(stopped) or 'Interrupted'}: scheduler stopped.")
