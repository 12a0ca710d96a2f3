"""Webhook endpoints in the Django admin. The secret is write-only: after saving, the
response shows it once (generated or typed), and no page shows it again."""

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.db.models.expressions import RawSQL
from django.template.response import TemplateResponse

from jobs.dialects import dialect_for
from webhooks.models import EVENT_TYPES, WebhookEndpoint, event_types_text
from webhooks.security import endpoint_url_validate, secret_generate, secret_validate

_SHOWN = "_webhook_secret_once"  # request attribute: the secret to show in this response only


class EndpointForm(forms.ModelForm):
    url = forms.CharField(max_length=2000, label="URL", widget=forms.URLInput(attrs={"size": 80}))
    types = forms.MultipleChoiceField(
        choices=[(t, t) for t in EVENT_TYPES],
        required=False,
        widget=forms.CheckboxSelectMultiple,
        label="Event types",
        help_text="None ticked: every type.",
    )
    new_secret = forms.CharField(
        required=False,
        label="Secret",
        widget=forms.PasswordInput(render_value=False),
        help_text="whsec_<base64>. Leave empty to generate one. Shown once after saving, never again.",
    )
    rotate = forms.BooleanField(required=False, label="Replace the secret (with the one above or a new one)")

    class Meta:
        model = WebhookEndpoint
        fields = ["url", "active"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.initial["types"] = self.instance.event_type_list
        else:
            del self.fields["rotate"]

    def clean_url(self):
        return endpoint_url_validate(self.cleaned_data["url"])

    def clean_new_secret(self):
        value = self.cleaned_data["new_secret"].strip()
        if value:
            try:
                return secret_validate(value)
            except ValidationError as invalid:
                raise ValidationError(invalid.messages) from None
        return ""


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(admin.ModelAdmin):
    form = EndpointForm
    list_display = ["id", "url", "types_shown", "active", "created_at"]
    list_filter = ["active"]
    search_fields = ["url"]

    @admin.display(description="Event types")
    def types_shown(self, endpoint: WebhookEndpoint) -> str:
        return ", ".join(endpoint.event_type_list) or "all"

    def get_fields(self, request, obj=None):
        return ["url", "types", "active", "new_secret"] + (["rotate"] if obj else [])

    def save_model(self, request, obj, form, change):
        obj.event_types = event_types_text(form.cleaned_data["types"])
        if not change or form.cleaned_data.get("rotate"):
            obj.secret = form.cleaned_data["new_secret"] or secret_generate()
            setattr(request, _SHOWN, obj.secret)
        if not change:
            obj.created_at = RawSQL(dialect_for().now, [])
        super().save_model(request, obj, form, change)
        obj.refresh_from_db()

    def _secret_once(self, request, obj, response):
        secret = getattr(request, _SHOWN, None)
        if secret is None:
            return response
        context = {
            **self.admin_site.each_context(request),
            "endpoint": obj,
            "secret": secret,
            "opts": self.opts,
            "title": "Webhook endpoint saved",
        }
        shown = TemplateResponse(request, "admin/webhooks/secret_once.html", context)
        shown["Cache-Control"] = "no-store"
        return shown

    def response_add(self, request, obj, post_url_continue=None):
        return self._secret_once(request, obj, super().response_add(request, obj, post_url_continue))

    def response_change(self, request, obj):
        return self._secret_once(request, obj, super().response_change(request, obj))
