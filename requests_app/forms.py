"""Validation only. The same form checks the Create Request page and the JSON API."""

from django import forms
from django.utils import timezone

from requests_app.models import UserAccessRequest
from requests_app.services import CUSTOM, CUSTOM_DATE_MAX, DURATION_DAYS, NEVER, custom_date_start


def _max_length(name: str) -> int:
    return UserAccessRequest._meta.get_field(name).max_length


DURATION_CHOICES = [
    *((str(d), f"{d} day" if d == 1 else f"{d} days") for d in DURATION_DAYS),
    (NEVER, "Never expires"),
    (CUSTOM, "Custom date"),
]


class AccessRequestForm(forms.Form):
    requestor_name = forms.CharField(label="Requestor name", max_length=_max_length("requestor_name"))
    requestor_email = forms.EmailField(label="Requestor email", max_length=_max_length("requestor_email"))
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
    duration = forms.ChoiceField(
        label="Duration",
        choices=DURATION_CHOICES,
        initial="30",
        error_messages={"invalid_choice": "Choose one of: 1, 5, 29, 30, 90, 180, 365 days, never, custom."},
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
        if value > CUSTOM_DATE_MAX:
            raise forms.ValidationError("For no expiry choose “Never expires”.")
        if custom_date_start(value) <= timezone.now():
            raise forms.ValidationError("The expiry date must be in the future.")
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
