"""The job-run tables in the Django admin: read-only history (the lock writes them,
nobody else), newest first, filterable by status, with each run's duration and error.
And the notices in doubt (claims left by ended runs), which an operator may release."""

import logging

from django.contrib import admin, messages
from django.utils.text import Truncator

from jobs.models import JobRun, NotificationClaim, NotificationJobRun, RevokeExpiredJobRun
from jobs.notifications import claims_in_doubt

logger = logging.getLogger("jobs.admin")


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


@admin.register(NotificationClaim)
class NotificationClaimAdmin(admin.ModelAdmin):
    """Claims: in flight while their run lives, in doubt once it ended (docs/notifications.md).
    Read-only; "release" deletes claims in doubt so that the next run sends those notices
    again (with the same Message-ID). Needs the delete permission on claims."""

    list_display = [
        "request",
        "notification_type",
        "expires_on",
        "sent_to",
        "claimed_at",
        "job_id",
        "message_id",
    ]
    list_filter = ["notification_type"]
    search_fields = ["request__request_id", "sent_to", "job_id", "message_id"]
    ordering = ["-claimed_at", "-id"]
    list_per_page = 50
    list_select_related = ["request"]
    actions = ["release"]

    @admin.action(description="Release: the next run sends these notices again", permissions=["delete"])
    def release(self, request, queryset) -> None:
        chosen = set(queryset.values_list("id", flat=True))
        released_ids = list(claims_in_doubt().filter(id__in=chosen).values_list("id", flat=True))
        if released_ids:
            NotificationClaim.objects.filter(id__in=released_ids).delete()
            logger.warning(
                "%s released %d notices in doubt; the next notification run sends them again",
                request.user.get_username(),
                len(released_ids),
                extra={
                    "event": "in_doubt_released",
                    "released": released_ids,
                    "by": request.user.get_username(),
                },
            )
            self.message_user(
                request, f"{len(released_ids)} released: the next notification run sends them again."
            )
        if len(chosen) > len(released_ids):
            self.message_user(
                request,
                f"{len(chosen) - len(released_ids)} left: their run is still in progress (the notice is being sent).",
                messages.WARNING,
            )

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)  # release is the one way to delete a claim
        return actions

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return obj is None and super().has_delete_permission(request)  # the release action only
