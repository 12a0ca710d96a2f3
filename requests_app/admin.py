from django.contrib import admin, messages
from django.template.response import TemplateResponse
from django.utils import formats, timezone

from requests_app import services
from requests_app.forms import ExtendForm, RevokeForm
from requests_app.models import AccessEvent, ExpiryNotification, RevokedAccess, UserAccessRequest
from requests_app.selectors import SEARCH_FIELDS, search_clean, search_filter


def _when(value) -> str:
    return formats.date_format(timezone.localtime(value), "Y-m-d H:i") if value else "—"


@admin.register(UserAccessRequest)
class UserAccessRequestAdmin(admin.ModelAdmin):
    """Requests are created on the Create Request page (generated Request_Id, validation),
    extended and revoked through the services (the actions here, with their audit events),
    so the identity, status, creation time and expiry are read-only."""

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
    search_fields = SEARCH_FIELDS
    ordering = ("-created_at", "-id")
    readonly_fields = ("request_id", "status", "created_at", "expires_on")
    actions = ("extend_selected", "revoke_selected")
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

    def get_search_results(self, request, queryset, search_term):
        """The All Requests search (the whole text, on PostgreSQL through its index), not
        the admin's word by word."""
        search = search_clean(search_term)
        return (queryset.filter(search_filter(search)) if search else queryset), False

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

    def _bulk(self, request, queryset, *, form_class, change, actor: str, title: str, done: str):
        """An action with a form: the first POST shows it, the second (with "apply") runs
        `change` on each selected request, each in its own transaction."""
        form = form_class(request.POST if "apply" in request.POST else None)
        if form.is_bound and form.is_valid():
            changed, refused = 0, []
            for request_id in queryset.order_by("id").values_list("request_id", flat=True):
                try:
                    change(request_id=request_id, **{actor: request.user.get_username()}, **form.cleaned_data)
                    changed += 1
                except (services.AccessRequestNotActive, ValueError) as exc:
                    refused.append(f"{request_id}: {exc}")
            self.message_user(
                request, f"{done} {changed} request{'' if changed == 1 else 's'}.", messages.SUCCESS
            )
            if refused:
                self.message_user(request, "Not changed: " + "; ".join(refused), messages.WARNING)
            return None
        return TemplateResponse(
            request,
            "admin/requests_app/bulk_change.html",
            {
                **self.admin_site.each_context(request),
                "title": title,
                "form": form,
                "queryset": queryset,
                "action": request.POST.get("action"),
                "opts": self.model._meta,
                "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
            },
        )

    @admin.action(description="Extend selected requests", permissions=["change"])
    def extend_selected(self, request, queryset):
        return self._bulk(
            request,
            queryset,
            form_class=ExtendForm,
            change=services.access_request_extend,
            actor="extended_by",
            title="Extend requests",
            done="Extended",
        )

    @admin.action(description="Revoke selected requests now", permissions=["change"])
    def revoke_selected(self, request, queryset):
        return self._bulk(
            request,
            queryset,
            form_class=RevokeForm,
            change=services.access_request_revoke,
            actor="revoked_by",
            title="Revoke requests now",
            done="Revoked",
        )


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
    list_display = ("request_ref", "notification_type", "sent_to", "sent_at", "expires_on", "job_id")
    list_filter = ("notification_type", "sent_at")
    search_fields = ("request__request_id", "sent_to", "job_id")
    ordering = ("-sent_at", "-id")


@admin.register(RevokedAccess)
class RevokedAccessAdmin(HistoryAdmin):
    list_display = ("request_ref", "revoked_dt", "revoked_by", "job_id")
    list_filter = ("revoked_by", "revoked_dt")
    search_fields = ("request__request_id", "request__requestor_email", "revoked_by", "job_id")
    ordering = ("-revoked_dt", "-id")


@admin.register(AccessEvent)
class AccessEventAdmin(HistoryAdmin):
    list_display = ("occurred_at", "request_ref", "event_type", "actor", "job_id", "reason")
    list_filter = ("event_type", "occurred_at")
    search_fields = ("request__request_id", "actor", "job_id", "reason")
    ordering = ("-occurred_at", "-id")
