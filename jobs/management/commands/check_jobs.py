"""`python manage.py check_jobs`: the dead-man check of /healthz?jobs=1, for cron-based
monitoring. Exit status: 0 every job succeeded recently enough, 1 otherwise (one line
per reason on stderr)."""

import sys

from django.core.management.base import BaseCommand

from jobs.management.commands._job_command import EXIT_FAILED
from jobs.monitoring import jobs_problems


class Command(BaseCommand):
    help = "Exit 1, saying why, when a job's last success is older than it may be."

    def handle(self, *args, **options):
        problems = jobs_problems()
        for problem in problems:
            self.stderr.write(problem.reason)
        if problems:
            sys.exit(EXIT_FAILED)
        self.stdout.write("All scheduled jobs have succeeded recently enough.")
