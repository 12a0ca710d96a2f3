"""The two job-run tables (seed names). A row with Status='InProgress' is the lock;
a filtered unique index allows at most one such row per table."""

from django.db import models
from django.db.models import Q


class JobRun(models.Model):
    class Status(models.TextChoices):
        IN_PROGRESS = "InProgress", "In progress"  # the stored value (seed, API) and how pages show it
        COMPLETED = "Completed"
        FAILED = "Failed"
        ABANDONED = "Abandoned"
        REFUSED = "Refused"  # an attempt that found the lock held (history only)

    id = models.AutoField(primary_key=True, db_column="Id")
    job_id = models.CharField(max_length=36, unique=True, db_column="Job_Id")
    status = models.CharField(max_length=20, choices=Status.choices, db_column="Status")
    started_at = models.DateTimeField(db_column="Started_At")
    started_by = models.CharField(max_length=200, db_column="Started_By")
    triggered_by = models.CharField(max_length=150, blank=True, default="", db_column="Triggered_By")
    heartbeat_at = models.DateTimeField(null=True, blank=True, db_column="Heartbeat_At")
    completed_at = models.DateTimeField(null=True, blank=True, db_column="Completed_At")
    total_count = models.IntegerField(null=True, blank=True, db_column="Total_Count")
    processed_count = models.IntegerField(null=True, blank=True, db_column="Processed_Count")
    error_message = models.TextField(null=True, blank=True, db_column="Error_Message")

    job_name = ""  # shown in logs, pages and messages

    class Meta:
        abstract = True

    def __str__(self) -> str:
        return f"{self.job_name} {self.job_id} ({self.status})"

    @property
    def duration(self):
        if self.completed_at and self.started_at:
            return self.completed_at - self.started_at
        return None


class NotificationJobRun(JobRun):
    success_count = models.IntegerField(null=True, blank=True, db_column="Success_Count")
    failed_count = models.IntegerField(null=True, blank=True, db_column="Failed_Count")

    job_name = "notifications"

    class Meta:
        db_table = "NotificationJobRun"
        constraints = [
            models.UniqueConstraint(
                fields=["status"],
                condition=Q(status="InProgress"),
                name="notificationjobrun_one_inprogress",
            )
        ]
        indexes = [models.Index(fields=["-started_at"], name="njr_started_idx")]
        permissions = [("run_notification_job", "Can run the expiry notification job")]


class RevokeExpiredJobRun(JobRun):
    revoked_count = models.IntegerField(null=True, blank=True, db_column="Revoked_Count")

    job_name = "revoke"

    class Meta:
        db_table = "RevokeExpiredJobRun"
        constraints = [
            models.UniqueConstraint(
                fields=["status"],
                condition=Q(status="InProgress"),
                name="revokeexpiredjobrun_one_inprogress",
            )
        ]
        indexes = [models.Index(fields=["-started_at"], name="rejr_started_idx")]
        permissions = [("run_revoke_job", "Can run the revoke expired access job")]


# The two jobs by the short key used in URLs, templates and logs.
JOB_MODELS: dict[str, type[JobRun]] = {
    "revoke": RevokeExpiredJobRun,
    "notifications": NotificationJobRun,
}
