"""Validation only. The same form checks the Create Request page and the JSON API."""

from datetime import datetime, timedelta

from django import forms
from django.utils import timezone

from requests_app.models import UserAccessRequest
from requests_app.selectors import (
    DEFAULT_SORT,
    EXPIRING_WITHIN_MAX_DAYS,
    SORTS,
    STATUSES,
    RequestFilters,
    search_clean,
)
from requests_app.services import (
    CUSTOM,
    DURATION_DAYS,
    NEVER,
    REASON_MAX_LENGTH,
    custom_date_expires_on,
    custom_date_start,
)


def _max_length(name: str) -> int:
    return UserAccessRequest._meta.get_field(name).max_length


DURATION_CHOICES = [
    *((str(d), f"{d} day" if d == 1 else f"{d} days") for d in DURATION_DAYS),
    (NEVER, "Never expires"),
    (CUSTOM, "Custom date"),
]


class ExpiryForm(forms.Form):
    """The expiry choice (a duration, never, or a custom date), shared by Create and Extend."""

    duration = forms.ChoiceField(
        label="Duration",
        choices=DURATION_CHOICES,
        initial="30",
        error_messages={
            "invalid_choice": f"Choose one of: {', '.join(map(str, DURATION_DAYS))} days, never, custom."
        },
    )
    custom_date = forms.DateField(
        label="Custom expiry date",
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text="Access ends at the start of this day.",
    )

    def clean_custom_date(self):
        value = self.cleaned_data.get("custom_date")
        if value is None or self.cleaned_data.get("duration") != CUSTOM:
            return None
        try:
            custom_date_expires_on(value, now=timezone.now())
        except ValueError as exc:
            raise forms.ValidationError(str(exc)) from None
        return value

    def clean(self):
        cleaned = super().clean()
        if (
            cleaned.get("duration") == CUSTOM
            and not cleaned.get("custom_date")
            and "custom_date" not in self.errors
        ):
            self.add_error("custom_date", "Pick a date for a custom duration.")
        return cleaned


class OwnAccessRequestForm(ExpiryForm):
    """A request for oneself: the requestor's name and email come from the account."""

    field_order = ["resource_name", "justification", "duration"]

    resource_name = forms.CharField(
        label="Resource",
        max_length=_max_length("resource_name"),
        help_text="What the access is for, e.g. “Production database (read-only)”.",
    )
    justification = forms.CharField(
        label="Justification",
        max_length=_max_length("justification"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
    )


class AccessRequestForm(OwnAccessRequestForm):
    """A request for anyone (requests_app.create_for_others)."""

    field_order = ["requestor_name", "requestor_email", "resource_name", "justification", "duration"]

    requestor_name = forms.CharField(label="Requestor name", max_length=_max_length("requestor_name"))
    requestor_email = forms.EmailField(label="Requestor email", max_length=_max_length("requestor_email"))


def _reason_field() -> forms.CharField:
    return forms.CharField(
        label="Reason",
        max_length=REASON_MAX_LENGTH,
        widget=forms.Textarea(attrs={"rows": 2}),
        error_messages={"required": "Give a reason."},
    )


class ExtendForm(ExpiryForm):
    field_order = ["duration", "custom_date", "reason"]

    reason = _reason_field()


class RevokeForm(forms.Form):
    reason = _reason_field()


class AuditExportForm(forms.Form):
    """The audit export's date range: events from the start of `from` to the end of `to`
    (TIME_ZONE days), either optional."""

    date_from = forms.DateField(required=False, label="From")
    date_to = forms.DateField(required=False, label="To")

    def clean(self):
        cleaned = super().clean()
        start, end = cleaned.get("date_from"), cleaned.get("date_to")
        if start and end and end < start:
            self.add_error("date_to", "The end of the range is before its start.")
        return cleaned

    def bounds(self) -> tuple[datetime | None, datetime | None]:
        """(since, until) for selectors.access_event_list; call after is_valid()."""
        start, end = self.cleaned_data.get("date_from"), self.cleaned_data.get("date_to")
        return (
            custom_date_start(start) if start else None,
            custom_date_start(end + timedelta(days=1)) if end else None,
        )


class RequestListForm(forms.Form):
    """The query string of All Requests and GET /api/access-requests (camelCase, as the
    API's fields). Every field is optional; `filters()` is what the selector takes."""

    q = forms.CharField(required=False, strip=False)
    status = forms.ChoiceField(
        required=False,
        choices=[("", "All"), *((s, s) for s in STATUSES)],
        error_messages={"invalid_choice": f"Must be one of: {', '.join(STATUSES)}."},
    )
    overdue = forms.TypedChoiceField(
        required=False,
        choices=[("true", "true"), ("false", "false")],
        coerce=lambda value: value == "true",
        empty_value=False,
        error_messages={"invalid_choice": "Must be true or false."},
    )
    expiringWithinDays = forms.IntegerField(  # noqa: N815 (the API's parameter name)
        required=False,
        min_value=1,
        max_value=EXPIRING_WITHIN_MAX_DAYS,
        error_messages={"invalid": "Must be a whole number of days."},
    )
    sort = forms.ChoiceField(
        required=False,
        choices=[(key, key) for name in SORTS for key in (name, f"-{name}")],
        error_messages={
            "invalid_choice": f"Must be one of: {', '.join(SORTS)}, each optionally with a leading -."
        },
    )

    def filters(self) -> RequestFilters:
        """The valid fields as filters; an invalid one filters nothing (call is_valid() first)."""
        data = self.cleaned_data  # without the invalid fields
        return RequestFilters(
            search=search_clean(data.get("q")),
            status=data.get("status") or "",
            overdue=bool(data.get("overdue")),
            expiring_within_days=data.get("expiringWithinDays"),
            sort=data.get("sort") or DEFAULT_SORT,
        )
