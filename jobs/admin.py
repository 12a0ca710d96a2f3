"""The two job-run tables in the Django admin: read-only history (the lock writes them,
nobody else), newest first, filterable by status, with each run's duration and error."""

from django.contrib import admin
from django.utils.text import Truncator

from jobs.models import JobRun, NotificationJobRun, RevokeExpiredJobRun


class JobRunAdmin(admin.ModelAdmin):
    date_hierarchy = "started_at"
    list_filter = ["status"]
    ordering = ["-started_at", "-id"]
    search_fields = ["job_id", "started_by", "triggered_by", "error_message"]
    list_per_page = 50
    counts: tuple[str, ...] = ()

    def get_list_display(self, request):
        return [
            "job_id",
            "outcome_shown",
            "started_at",
            "duration_shown",
            "started_by",
            "triggered_by",
            *self.counts,
            "processed_count",
            "total_count",
            "error_shown",
        ]

    @admin.display(description="Status", ordering="status")
    def outcome_shown(self, run: JobRun) -> str:
        return run.outcome

    @admin.display(description="Duration", ordering="completed_at")
    def duration_shown(self, run: JobRun) -> str:
        if run.duration is None:
            return "running" if run.status == JobRun.Status.IN_PROGRESS else "—"
        seconds = run.duration.total_seconds()
        if seconds < 60:
            return f"{seconds:.1f} s"
        minutes, seconds = divmod(round(seconds), 60)
        hours, minutes = divmod(minutes, 60)
        return f"{hours} h {minutes:02d} min" if hours else f"{minutes} min {seconds:02d} s"

    @admin.display(description="Error")
    def error_shown(self, run: JobRun) -> str:
        return Truncator(run.error_message or "").chars(120)

    # Read-only: runs are history written by the lock; editing one could fake or break a lock.
    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(RevokeExpiredJobRun)
class RevokeExpiredJobRunAdmin(JobRunAdmin):
    counts = ("revoked_count",)


@admin.register(NotificationJobRun)
class NotificationJobRunAdmin(JobRunAdmin):
    counts = ("success_count", "failed_count")
