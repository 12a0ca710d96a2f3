"""Demo data: a realistic mix of access requests, relative to the database's now.

Idempotent: each demo row has a stable Request_Id (REQ-DEMO-0001 …) and is created only
when missing, so re-running adds nothing and keeps what the jobs did to the rows since.
`--reset` deletes the demo rows (and their history) and creates them afresh, with
expiries relative to now again.

With DEBUG on (and only then) it also creates the demo user, allowed to run both jobs,
and prints its login.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.contrib.auth.models import Permission, User
from django.core.management.base import BaseCommand
from django.db import transaction

from accessmgr.db import db_now
from requests_app.models import (
    NEVER_EXPIRES,
    REVOKED_BY_JOB,
    ExpiryNotification,
    RevokedAccess,
    UserAccessRequest,
)

DEMO_PREFIX = "REQ-DEMO-"
DEMO_USERNAME = "demo"
DEMO_PASSWORD = "demo"
DEMO_PERMISSIONS = ("run_revoke_job", "run_notification_job")
DEMO_REQUEST_PERMISSIONS = ("change_useraccessrequest", "view_all_requests", "create_for_others")
DEMO_OWN_ROWS = (2, 8, 14)  # demo_request_id indexes the demo user owns (expired, 5 days, 90 days)

H = timedelta(hours=1)
D = timedelta(days=1)


@dataclass(frozen=True)
class Demo:
    name: str
    email: str
    resource: str
    justification: str
    created_ago: timedelta
    expires_in: timedelta | None  # None: never expires; negative: already expired
    revoked_ago: timedelta | None = None  # set: Revoked, with a RevokedAccess row
    revoked_by: str = REVOKED_BY_JOB
    reminders: tuple[tuple[str, timedelta], ...] = field(default=())  # (type, sent ago)


# fmt: off
DEMO_ROWS: tuple[Demo, ...] = (
    # Already expired and still Active: what the revoke job will revoke.
    Demo("Priya Shah", "priya.shah@example.com", "Production database (read-only)",
         "Investigating the October invoicing incident.", 33 * D, -3 * D,
         reminders=(("30-Day Reminder", 30 * D), ("7-Day Reminder", 9 * D))),
    Demo("Tom Becker", "tom.becker@example.com", "AWS billing console",
         "Quarterly cost review.", 6 * D, -1 * D),
    Demo("Lena Park", "lena.park@example.com", "GitHub org: payments-service (write)",
         "Hotfix for the refund rounding bug.", 2 * D, -2 * H),
    Demo("Marco Rossi", "marco.rossi@example.com", "VPN — finance subnet",
         "", 40 * D, -10 * D, reminders=(("30-Day Reminder", 38 * D),)),
    Demo("Aisha Bello", "aisha.bello@example.com", "Salesforce reports",
         "Pipeline report for the board deck.", 1 * D, -30 * timedelta(minutes=1)),
    # Expiring in exactly 1, 5 and 29 days: the notification job's test durations.
    Demo("Jonas Weber", "jonas.weber@example.com", "Kubernetes prod cluster (view)",
         "On-call this week.", 6 * D, 1 * D),
    Demo("Sofia Alvarez", "sofia.alvarez@example.com", "Snowflake: analytics warehouse",
         "", 4 * D, 1 * D),
    Demo("Kenji Tanaka", "kenji.tanaka@example.com", "Jira admin",
         "Migrating the support project's workflows.", 25 * D, 5 * D,
         reminders=(("30-Day Reminder", 24 * D),)),
    Demo("Grace Okafor", "grace.okafor@example.com", "HR system (payroll export)",
         "Year-end payroll reconciliation.", 2 * D, 5 * D),
    Demo("Noah Fischer", "noah.fischer@example.com", "Datadog (admin)",
         "Setting up the new alerting rules.", 1 * D, 29 * D),
    Demo("Emma Laurent", "emma.laurent@example.com", "Production database (read-only)",
         "", 3 * H, 29 * D),
    Demo("Omar Haddad", "omar.haddad@example.com", "Stripe dashboard",
         "Dispute handling cover.", 16 * D, 14 * D, reminders=(("30-Day Reminder", 15 * D),)),
    # Further out.
    Demo("Chloe Martin", "chloe.martin@example.com", "Figma (editor)", "", 30 * D, 60 * D),
    Demo("Lucas Silva", "lucas.silva@example.com", "GitHub org: platform (maintain)",
         "Platform team rotation.", 10 * D, 90 * D),
    Demo("Mia Johansson", "mia.johansson@example.com", "Confluence: security space",
         "Security champion programme.", 20 * D, 180 * D),
    Demo("Ethan Brooks", "ethan.brooks@example.com", "Google Workspace admin", "", 5 * D, 365 * D),
    # Never expiring.
    Demo("Hannah Cohen", "hannah.cohen@example.com", "Internal wiki", "Standard employee access.",
         200 * D, None),
    Demo("Daniel Novak", "daniel.novak@example.com", "Build servers (SSH)", "CI maintainer.", 120 * D, None),
    Demo("Zara Ahmed", "zara.ahmed@example.com", "Status page (editor)", "", 60 * D, None),
    # Revoked, with their RevokedAccess rows.
    Demo("Victor Petrov", "victor.petrov@example.com", "Production database (write)",
         "Data fix for ticket OPS-4411.", 40 * D, -20 * D, revoked_ago=20 * D - 2 * H,
         reminders=(("30-Day Reminder", 38 * D), ("7-Day Reminder", 27 * D))),
    Demo("Isabel Costa", "isabel.costa@example.com", "AWS billing console", "", 40 * D, -6 * D,
         revoked_ago=6 * D - 1 * H, reminders=(("30-Day Reminder", 36 * D), ("7-Day Reminder", 13 * D))),
    Demo("Samuel Green", "samuel.green@example.com", "VPN — finance subnet",
         "Contractor; engagement ended early.", 50 * D, 40 * D, revoked_ago=2 * D,
         revoked_by="Security team (manual)"),
)
# fmt: on


def demo_request_id(index: int) -> str:
    return f"{DEMO_PREFIX}{index:04d}"


class Command(BaseCommand):
    help = "Create demo access requests (idempotent) and, with DEBUG on, the demo user."

    def add_arguments(self, parser):
        parser.add_argument(
            "--reset",
            action="store_true",
            help="Delete the demo requests and their history, then create them afresh relative to now.",
        )

    def handle(self, *args, reset: bool = False, **options):
        now = db_now()
        with transaction.atomic():
            if reset:
                deleted, _ = UserAccessRequest.objects.filter(request_id__startswith=DEMO_PREFIX).delete()
                self.stdout.write(f"Deleted {deleted} demo rows.")
            created = sum(self._seed_row(i, demo, now) for i, demo in enumerate(DEMO_ROWS, start=1))
        existing = len(DEMO_ROWS) - created
        self.stdout.write(self.style.SUCCESS(f"Demo requests: {created} created, {existing} already there."))
        if settings.DEBUG:
            self._demo_user()
        else:
            self.stdout.write("DEBUG is off: no demo user was created.")

    def _seed_row(self, index: int, demo: Demo, now) -> bool:
        expires_on = NEVER_EXPIRES if demo.expires_in is None else now + demo.expires_in
        obj, created = UserAccessRequest.objects.get_or_create(
            request_id=demo_request_id(index),
            defaults={
                "requestor_name": demo.name,
                "requestor_email": demo.email,
                "resource_name": demo.resource,
                "justification": demo.justification,
                "status": UserAccessRequest.Status.REVOKED
                if demo.revoked_ago
                else UserAccessRequest.Status.ACTIVE,
                # distinct creation times keep "newest first" stable
                "created_at": now - demo.created_ago - index * timedelta(seconds=1),
                "expires_on": expires_on,
            },
        )
        if not created:
            return False
        if demo.revoked_ago is not None:
            RevokedAccess.objects.create(
                request=obj, revoked_dt=now - demo.revoked_ago, revoked_by=demo.revoked_by
            )
        ExpiryNotification.objects.bulk_create(
            ExpiryNotification(
                request=obj,
                notification_type=kind,
                sent_at=now - ago,
                sent_to=demo.email,
                expires_on=expires_on,
            )
            for kind, ago in demo.reminders
        )
        return True

    def _demo_user(self) -> None:
        user, _ = User.objects.get_or_create(username=DEMO_USERNAME, defaults={"email": "demo@example.com"})
        user.is_active = True
        user.set_password(DEMO_PASSWORD)
        user.save()
        perms = Permission.objects.filter(content_type__app_label="jobs", codename__in=DEMO_PERMISSIONS)
        user.user_permissions.add(*perms)
        # to extend and revoke requests by hand (the request pages), to see every request and
        # the job pages, and to create requests for anyone
        user.user_permissions.add(
            *Permission.objects.filter(
                content_type__app_label="requests_app", codename__in=DEMO_REQUEST_PERMISSIONS
            )
        )
        # a few demo requests are the demo user's own, for My Access
        UserAccessRequest.objects.filter(
            request_id__in=[demo_request_id(i) for i in DEMO_OWN_ROWS], requester__isnull=True
        ).update(requester=user)
        if perms.count() != len(DEMO_PERMISSIONS):
            self.stderr.write("Warning: the job permissions are missing; run `manage.py migrate` first.")
        self.stdout.write(
            self.style.SUCCESS(
                f"Demo login (DEBUG only): username {DEMO_USERNAME!r}, password {DEMO_PASSWORD!r} "
                "— allowed to run the revoke and notification jobs, to see, create for anyone, "
                "extend and revoke requests."
            )
        )
