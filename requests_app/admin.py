from django.contrib import admin
from django.utils import formats, timezone

from requests_app.models import ExpiryNotification, RevokedAccess, UserAccessRequest


def _when(value) -> str:
    return formats.date_format(timezone.localtime(value), "Y-m-d H:i") if value else "—"


@admin.register(UserAccessRequest)
class UserAccessRequestAdmin(admin.ModelAdmin):
    """Requests are created on the Create Request page (generated Request_Id, validation)
    and revoked by the revoke job (with its RevokedAccess row), so here the identity,
    status and creation time are read-only."""

    list_display = (
        "request_id",
        "requestor_email",
        "resource_name",
        "status",
        "created",
        "expires",
        "revoked",
    )
    list_select_related = ("revocation",)
    list_filter = ("status", "created_at")
    search_fields = ("request_id", "requestor_email", "requestor_name", "resource_name")
    ordering = ("-created_at", "-id")
    readonly_fields = ("request_id", "status", "created_at")
    fields = (
        "request_id",
        "status",
        "created_at",
        "requestor_name",
        "requestor_email",
        "resource_name",
        "justification",
        "expires_on",
    )
    list_per_page = 50

    def has_add_permission(self, request):
        return False

    @admin.display(description="Created", ordering="created_at")
    def created(self, obj):
        return _when(obj.created_at)

    @admin.display(description="Expires", ordering="expires_on")
    def expires(self, obj):
        return "Never" if obj.never_expires else _when(obj.expires_on)

    @admin.display(description="Revoked")
    def revoked(self, obj):
        rv = getattr(obj, "revocation", None)
        return f"{_when(rv.revoked_dt)} by {rv.revoked_by}" if rv else "—"


class HistoryAdmin(admin.ModelAdmin):
    """History written by the jobs: viewable, never added, edited or deleted here."""

    list_select_related = ("request",)
    list_per_page = 50

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description="Request ID", ordering="request")
    def request_ref(self, obj):
        return obj.request_id  # the FK column holds the Request_Id itself


@admin.register(ExpiryNotification)
class ExpiryNotificationAdmin(HistoryAdmin):
    list_display = ("request_ref", "notification_type", "sent_to", "sent_at", "job_id")
    list_filter = ("notification_type", "sent_at")
    search_fields = ("request__request_id", "sent_to", "job_id")
    ordering = ("-sent_at", "-id")


@admin.register(RevokedAccess)
class RevokedAccessAdmin(HistoryAdmin):
    list_display = ("request_ref", "revoked_dt", "revoked_by", "job_id")
    list_filter = ("revoked_by", "revoked_dt")
    search_fields = ("request__request_id", "request__requestor_email", "revoked_by", "job_id")
    ordering = ("-revoked_dt", "-id")
