"""Data for the benchmarks: many access requests in one go, and a clean slate between
runs. Imported after django.setup()."""

from __future__ import annotations

from datetime import timedelta

from django.contrib.auth.models import User
from django.db import connection

from accessmgr.db import db_now
from requests_app.models import AccessEvent, ExpiryNotification, RevokedAccess, UserAccessRequest
from webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEvent

BATCH = 2000
RESOURCES = ["Payroll DB", "Prod Kubernetes", "Finance Share", "CRM Admin", "Data Lake", "VPN"]


def requests_create(
    *, count: int, expires_in: timedelta, prefix: str, spread: timedelta = timedelta(0), analyze: bool = True
) -> int:
    """`count` Active requests expiring at db-now + expires_in (minus up to `spread`,
    evenly), created one minute apart going back in time. Bulk inserts, then fresh planner
    statistics unless `analyze` is False (a bulk load autovacuum has not analysed yet)."""
    now = db_now()
    made = 0
    while made < count:
        batch = []
        for i in range(made, min(count, made + BATCH)):
            expires_on = now + expires_in - (spread * i / count if count else timedelta(0))
            batch.append(
                UserAccessRequest(
                    request_id=f"{prefix}-{i:07d}",
                    requestor_name=f"Bench User {i}",
                    requestor_email=f"user{i}@bench.example",
                    resource_name=RESOURCES[i % len(RESOURCES)],
                    justification="bench",
                    status=UserAccessRequest.Status.ACTIVE,
                    created_at=now - timedelta(minutes=i),
                    expires_on=expires_on,
                )
            )
        UserAccessRequest.objects.bulk_create(batch)
        made += len(batch)
    if analyze:
        tables_analyze()
    return made


def tables_clear() -> None:
    """Empty the request and webhook tables (plain DELETEs: no per-row cascade in Python)."""
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        for model in (
            WebhookAttempt,
            WebhookDelivery,
            WebhookEvent,
            AccessEvent,
            ExpiryNotification,
            RevokedAccess,
            UserAccessRequest,
        ):
            cursor.execute(f"DELETE FROM {quote(model._meta.db_table)}")
    tables_analyze()


def tables_analyze() -> None:
    """Fresh planner statistics after a bulk change (bench-only maintenance SQL)."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("VACUUM ANALYZE")
        elif connection.vendor == "sqlite":
            cursor.execute("ANALYZE")


def bench_user() -> User:
    """A superuser for the pages and the poll endpoint (the status endpoints need login)."""
    user = User.objects.filter(username="bench").first()
    if user is None:
        user = User.objects.create_superuser("bench", "bench@bench.example", "bench-password-not-secret")
    return user
