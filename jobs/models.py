"""The job-run tables (seed names), one per job. A row with Status='InProgress' is the lock;
a filtered unique index allows at most one such row per table."""

from django.db import models
from django.db.models import Q

COMPLETED_WITH_FAILURES = "Completed with failures"  # shown, never stored


def run_outcome(*, status: str, failed_count: int | None) -> str:
    """How a run ended, as pages, metrics and commands show it: its status, or "Completed
    with failures" for a Completed run some of whose sends failed."""
    if status == JobRun.Status.COMPLETED and failed_count:
        return COMPLETED_WITH_FAILURES
    return status


def outcome_label(outcome: str) -> str:
    """An outcome as pages show it: a status's label ("In progress" for the stored
    "InProgress"), or "Completed with failures"."""
    return JobRun.Status(outcome).label if outcome in JobRun.Status.values else outcome


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
    # A Refused run: the jobId of the run that held the lock (history only; NULL otherwise)
    holder_job_id = models.CharField(max_length=36, null=True, blank=True, db_column="Holder_Job_Id")

    job_name = ""  # the key in URLs, templates and logs ("revoke")
    job_noun = ""  # in sentences: "the revoke job"
    job_title = ""  # as a heading: "Revoke expired"
    run_permission = ""  # who may start a run

    class Meta:
        abstract = True
        constraints = [
            # The lock: at most one InProgress row per table (%(class)s: the table's model)
            models.UniqueConstraint(
                fields=["status"], condition=Q(status="InProgress"), name="%(class)s_one_inprogress"
            )
        ]

    def __str__(self) -> str:
        return f"{self.job_name} {self.job_id} ({self.status})"

    @property
    def outcome(self) -> str:
        return run_outcome(status=self.status, failed_count=getattr(self, "failed_count", None))

    @property
    def outcome_label(self) -> str:
        return outcome_label(self.outcome)

    @property
    def duration(self):
        if self.completed_at and self.started_at:
            return self.completed_at - self.started_at
        return None


class NotificationJobRun(JobRun):
    success_count = models.IntegerField(null=True, blank=True, db_column="Success_Count")
    failed_count = models.IntegerField(null=True, blank=True, db_column="Failed_Count")

    job_name = "notifications"
    job_noun = "notification"
    job_title = "Expiry notifications"
    run_permission = "jobs.run_notification_job"

    class Meta(JobRun.Meta):
        db_table = "NotificationJobRun"
        indexes = [models.Index(fields=["-started_at"], name="njr_started_idx")]
        permissions = [("run_notification_job", "Can run the expiry notification job")]


class RevokeExpiredJobRun(JobRun):
    revoked_count = models.IntegerField(null=True, blank=True, db_column="Revoked_Count")

    job_name = "revoke"
    job_noun = "revoke"
    job_title = "Revoke expired"
    run_permission = "jobs.run_revoke_job"

    class Meta(JobRun.Meta):
        db_table = "RevokeExpiredJobRun"
        indexes = [models.Index(fields=["-started_at"], name="rejr_started_idx")]
        permissions = [("run_revoke_job", "Can run the revoke expired access job")]


class DeliverEventsJobRun(JobRun):
    success_count = models.IntegerField(null=True, blank=True, db_column="Success_Count")  # delivered
    failed_count = models.IntegerField(null=True, blank=True, db_column="Failed_Count")  # failed attempts

    job_name = "deliveries"
    job_noun = "event delivery"
    job_title = "Deliver events"
    run_permission = "jobs.run_delivery_job"

    class Meta(JobRun.Meta):
        db_table = "DeliverEventsJobRun"
        indexes = [models.Index(fields=["-started_at"], name="dejr_started_idx")]
        permissions = [("run_delivery_job", "Can run the webhook event delivery job")]


# The jobs by their key (job_name).
JOB_MODELS: dict[str, type[JobRun]] = {
    m.job_name: m for m in (RevokeExpiredJobRun, NotificationJobRun, DeliverEventsJobRun)
}


class NotificationFailure(models.Model):
    """A send that failed in a notification run (never an ExpiryNotification row: the next
    run sends it again), kept so a run's failures can be seen afterwards."""

    id = models.BigAutoField(primary_key=True, db_column="Id")
    job_id = models.CharField(max_length=36, db_column="Job_Id")
    request = models.ForeignKey(
        "requests_app.UserAccessRequest",
        to_field="request_id",
        db_column="Request_Id",
        on_delete=models.CASCADE,
        related_name="notification_failures",
    )
    notification_type = models.CharField(max_length=30, db_column="Notification_Type")
    sent_to = models.EmailField(max_length=254, db_column="Sent_To")
    error_message = models.TextField(db_column="Error_Message")
    failed_at = models.DateTimeField(db_column="Failed_At")

    class Meta:
        db_table = "NotificationFailure"
        indexes = [models.Index(fields=["job_id"], name="nf_job_idx")]

    def __str__(self) -> str:
        return f"{self.notification_type} to {self.sent_to} failed ({self.job_id})"


class ScheduledTick(models.Model):
    """One tick of a schedule (run_scheduler), claimed by the one scheduler that runs it:
    the unique (Job, Tick_At) lets every server try and exactly one win."""

    class Outcome(models.TextChoices):
        RUNNING = "Running"
        COMPLETED = "Completed"
        FAILED = "Failed"
        REFUSED = "Refused"  # the job's lock was held (a run from a page, or a long run)
        INTERRUPTED = "Interrupted"  # the scheduler was stopped during the run

    id = models.BigAutoField(primary_key=True, db_column="Id")
    job = models.CharField(max_length=20, db_column="Job")  # JOB_MODELS keys, or "prune"
    tick_at = models.DateTimeField(db_column="Tick_At")
    claimed_by = models.CharField(max_length=200, db_column="Claimed_By")
    claimed_at = models.DateTimeField(db_column="Claimed_At")
    finished_at = models.DateTimeField(null=True, blank=True, db_column="Finished_At")
    outcome = models.CharField(max_length=20, choices=Outcome.choices, db_column="Outcome")
    error_message = models.TextField(null=True, blank=True, db_column="Error_Message")

    class Meta:
        db_table = "ScheduledTick"
        constraints = [models.UniqueConstraint(fields=["job", "tick_at"], name="scheduledtick_one_per_tick")]

    def __str__(self) -> str:
        return f"{self.job} tick {self.tick_at:%Y-%m-%d %H:%M:%S} ({self.outcome})"


class PrunedRunTotals(models.Model):
    """What pruned runs added to each /metrics counter (jobs.metrics.run_totals), so the
    counters never go down when old history is deleted."""

    id = models.BigAutoField(primary_key=True, db_column="Id")
    job = models.CharField(max_length=20, db_column="Job")
    metric = models.CharField(max_length=60, db_column="Metric")  # e.g. "runs:completed", "items:revoked"
    value = models.FloatField(default=0, db_column="Value")

    class Meta:
        db_table = "PrunedRunTotals"
        constraints = [
            models.UniqueConstraint(fields=["job", "metric"], name="prunedruntotals_one_per_metric")
        ]

    def __str__(self) -> str:
        return f"{self.job} {self.metric} = {self.value:g}"


class NotificationClaim(models.Model):
    """A notice a notification run is about to send (jobs.sending): written, fenced on the
    run, before the send; deleted with the send's record, or when the send failed or never
    started. One left behind by a run that ended is "in doubt": it may have gone out, so it
    counts as sent and is not sent again unless NOTIFY_IN_DOUBT=resend or an operator
    releases it (docs/notifications.md)."""

    id = models.BigAutoField(primary_key=True, db_column="Id")
    request = models.ForeignKey(
        "requests_app.UserAccessRequest",
        to_field="request_id",
        db_column="Request_Id",
        on_delete=models.CASCADE,
        related_name="notification_claims",
    )
    notification_type = models.CharField(max_length=30, db_column="Notification_Type")
    claimed_at = models.DateTimeField(db_column="Claimed_At")
    sent_to = models.EmailField(max_length=254, db_column="Sent_To")
    job_id = models.CharField(max_length=36, db_column="Job_Id")
    expires_on = models.DateTimeField(db_column="Expires_On")  # the expiry the notice is about
    message_id = models.CharField(max_length=255, db_column="Message_Id")

    class Meta:
        db_table = "NotificationClaim"
        constraints = [
            models.UniqueConstraint(
                fields=["request", "notification_type", "expires_on"], name="notificationclaim_one_per_notice"
            )
        ]
        indexes = [models.Index(fields=["job_id"], name="nc_job_idx")]

    def __str__(self) -> str:
        return f"{self.notification_type} for {self.request_id} claimed by {self.job_id}"
