"""`python manage.py prune_history --older-than 90d`: delete job-run rows (refusals included)
and scheduler ticks older than that. Never an InProgress run, and never requests,
revocations, reminders or audit events. Exit status: 0 done, 2 a bad --older-than."""

import re
import sys
from datetime import timedelta

from django.core.management.base import BaseCommand

from jobs.management.commands._job_command import EXIT_USAGE
from jobs.retention import history_prune

AGE = re.compile(r"(\d+)([dhm])")
UNITS = {"d": "days", "h": "hours", "m": "minutes"}


def age_parse(text: str) -> timedelta:
    """ "90d", "12h", "30m" as a timedelta; ValueError otherwise."""
    match = AGE.fullmatch(text.strip())
    if not match or int(match[1]) == 0:
        raise ValueError(f"--older-than must be a positive age like 90d, 12h or 30m, got {text!r}")
    return timedelta(**{UNITS[match[2]]: int(match[1])})


class Command(BaseCommand):
    help = "Delete job history (runs, refusals, scheduler ticks) older than --older-than."

    def add_arguments(self, parser):
        parser.add_argument("--older-than", required=True, metavar="AGE", help="e.g. 90d, 12h, 30m")

    def handle(self, *args, **options):
        try:
            older_than = age_parse(options["older_than"])
        except ValueError as bad:
            self.stderr.write(str(bad))
            sys.exit(EXIT_USAGE)
        deleted = history_prune(older_than=older_than)
        shown = ", ".join(f"{what}: {n}" for what, n in deleted.items())
        self.stdout.write(f"Deleted history older than {older_than}: {shown}.")
