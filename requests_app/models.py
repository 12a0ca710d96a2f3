"""The seed's tables, with its table and column names, so the app can run on a
database built for the original system. All datetimes are UTC."""

from datetime import UTC, datetime

from django.conf import settings
from django.db import models

NEVER_EXPIRES = datetime(9999, 12, 31, tzinfo=UTC)
REVOKED_BY_JOB = "System - Scheduled Expiry Job"  # RevokedAccess.Revoked_By of the revoke job


class UserAccessRequest(models.Model):
    class Status(models.TextChoices):
        ACTIVE = "Active"
        REVOKED = "Revoked"

    id = models.AutoField(primary_key=True, db_column="Id")
    request_id = models.CharField(max_length=50, unique=True, db_column="Request_Id")
    requestor_name = models.CharField(max_length=200, db_column="Requestor_Name")
    requestor_email = models.EmailField(max_length=254, db_column="Requestor_Email")
    resource_name = models.CharField(max_length=200, db_column="Resource_Name")
    justification = models.CharField(max_length=1000, blank=True, default="", db_column="Justification")
    status = models.CharField(
        max_length=20, choices=Status.choices, default=Status.ACTIVE, db_column="Status"
    )
    created_at = models.DateTimeField(db_column="Created_At")
    expires_on = models.DateTimeField(db_column="Expires_On")
    # Whose request it is (My Access, the request page). NULL for the original system's rows
    # and those from before accessmgr recorded it: only users who view all requests see them.
    requester = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        db_column="Requester_User_Id",
        related_name="access_requests",
    )

    class Meta:
        db_table = "UserAccessRequest"
        permissions = [
            ("create_for_others", "Can create access requests for other people"),
            ("view_all_requests", "Can view every access request and the job pages"),
        ]
        indexes = [
            # Id too: Pending Expiry's pages (ORDER BY Expires_On, Id) read it alone, in order
            models.Index(fields=["status", "expires_on", "id"], name="uar_status_expires_idx"),
            models.Index(fields=["-created_at", "-id"], name="uar_created_idx"),
            # All Requests filtered by status, newest first: no sort of the whole status
            models.Index(fields=["status", "-created_at", "-id"], name="uar_status_created_idx"),
            # No index on Requestor_Email: the only query on it is the search's
            # case-insensitive "contains" (icontains), which no B-tree serves, and every
            # revoked row would write an entry to it (migration 0003).
        ]

    def __str__(self) -> str:
        return f"{self.request_id} {self.requestor_email} → {self.resource_name}"

    @property
    def never_expires(self) -> bool:
        return self.expires_on.year == NEVER_EXPIRES.year


ACCESS_ENDED = "Access Ended"  # ExpiryNotification.Notification_Type of the access-ended notice


class ExpiryNotification(models.Model):
    id = models.AutoField(primary_key=True, db_column="Id")
    request = models.ForeignKey(
        UserAccessRequest,
        to_field="request_id",
        db_column="Request_Id",
        on_delete=models.CASCADE,
        related_name="notifications",
    )
    notification_type = models.CharField(max_length=30, db_column="Notification_Type")
    sent_at = models.DateTimeField(db_column="Sent_At")
    sent_to = models.EmailField(max_length=254, db_column="Sent_To")
    job_id = models.CharField(max_length=36, null=True, blank=True, db_column="Job_Id")
    # The request's expiry the notice was about: an extension re-arms the reminders.
    # Nullable for the original system's INSERT, which does not know it; accessmgr sets it.
    expires_on = models.DateTimeField(null=True, db_column="Expires_On")
    # The email's Message-ID header, the same whenever this notice is sent (docs/notifications.md).
    # Nullable for the original system's INSERT and the notices sent before it was kept.
    message_id = models.CharField(max_length=255, null=True, blank=True, db_column="Message_Id")

    class Meta:
        db_table = "ExpiryNotification"
        constraints = [
            models.UniqueConstraint(
                fields=["request", "notification_type", "expires_on"],
                name="expirynotification_request_type_expiry_uniq",
            )
        ]

    def __str__(self) -> str:
        return f"{self.notification_type} for {self.request_id}"


class RevokedAccess(models.Model):
    id = models.AutoField(primary_key=True, db_column="Id")
    request = models.OneToOneField(
        UserAccessRequest,
        to_field="request_id",
        db_column="Request_Id",
        on_delete=models.CASCADE,
        related_name="revocation",
    )
    revoked_dt = models.DateTimeField(db_column="Revoked_Dt")
    revoked_by = models.CharField(max_length=200, db_column="Revoked_By")
    job_id = models.CharField(max_length=36, null=True, blank=True, db_column="Job_Id")

    class Meta:
        db_table = "RevokedAccess"
        verbose_name_plural = "revoked access"

    def __str__(self) -> str:
        return f"{self.request_id} revoked by {self.revoked_by}"


class AccessEvent(models.Model):
    """The audit trail: one row per change or notice, append-only, written in the same
    transaction as what it records. `actor` is a username or the job's name; `job_id` the
    run that did it, if a job did."""

    class Type(models.TextChoices):
        CREATED = "Created"
        EXTENDED = "Extended"
        REVOKED = "Revoked"  # by hand (job_id empty) or by the revoke job (job_id set)
        REMINDER_SENT = "Reminder Sent"
        ACCESS_ENDED_SENT = "Access Ended Sent"

    id = models.BigAutoField(primary_key=True, db_column="Id")
    # No foreign key in the database (docs/schema.md): no writer writes an event for a request
    # that is not there; deleting a request through Django deletes its events.
    request = models.ForeignKey(
        UserAccessRequest,
        to_field="request_id",
        db_column="Request_Id",
        on_delete=models.CASCADE,
        related_name="events",
        db_constraint=False,
    )
    event_type = models.CharField(max_length=30, choices=Type.choices, db_column="Event_Type")
    occurred_at = models.DateTimeField(db_column="Occurred_At")
    actor = models.CharField(max_length=200, db_column="Actor")
    job_id = models.CharField(max_length=36, null=True, blank=True, db_column="Job_Id")
    reason = models.CharField(max_length=500, blank=True, default="", db_column="Reason")
    old_expires_on = models.DateTimeField(null=True, blank=True, db_column="Old_Expires_On")
    new_expires_on = models.DateTimeField(null=True, blank=True, db_column="New_Expires_On")
    detail = models.CharField(max_length=300, blank=True, default="", db_column="Detail")

    class Meta:
        db_table = "AccessEvent"
        indexes = [models.Index(fields=["occurred_at", "id"], name="accessevent_occurred_idx")]

    def __str__(self) -> str:
        return f"{self.event_type} {self.request_id} by {self.actor}"


class RequestStatusCount(models.Model):
    """How many UserAccessRequest rows have each Status, kept by database triggers on that
    table (migration 0009, docs/schema.md): All Requests' unfiltered counts without a scan.
    Never written by the app. A status with no row counts 0."""

    status = models.CharField(max_length=20, primary_key=True, db_column="Status")
    n = models.BigIntegerField(db_column="N")

    class Meta:
        db_table = "RequestStatusCount"

    def __str__(self) -> str:
        return f"{self.status}: {self.n}"
