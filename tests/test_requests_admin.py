from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.urls import reverse

from accessmgr.db import db_now
from requests_app.models import NEVER_EXPIRES, ExpiryNotification, RevokedAccess, UserAccessRequest


@pytest.fixture
def admin_client(client, db):
    admin = User.objects.create_superuser("root", "root@example.com", "pw")
    client.force_login(admin)
    return client


@pytest.fixture
def history(make_request):
    now = db_now()
    revoked = make_request(expires_in=-timedelta(days=1), status="Revoked")
    RevokedAccess.objects.create(request=revoked, revoked_dt=now, revoked_by="System - Scheduled Expiry Job")
    soon = make_request(expires_in=timedelta(days=5))
    note = ExpiryNotification.objects.create(
        request=soon, notification_type="30-Day Reminder", sent_at=now, sent_to=soon.requestor_email
    )
    make_request(expires_on=NEVER_EXPIRES)
    return revoked, soon, note


@pytest.mark.parametrize("model", ["useraccessrequest", "expirynotification", "revokedaccess"])
def test_changelists_render_with_search_and_filters(admin_client, history, model):
    url = reverse(f"admin:requests_app_{model}_changelist")
    assert admin_client.get(url).status_code == 200
    assert admin_client.get(url, {"q": "REQ-TEST"}).status_code == 200


def test_request_list_shows_never_and_revocation(admin_client, history):
    html = admin_client.get(reverse("admin:requests_app_useraccessrequest_changelist")).content.decode()
    assert "Never" in html
    assert "by System - Scheduled Expiry Job" in html
    assert (
        admin_client.get(
            reverse("admin:requests_app_useraccessrequest_changelist"), {"status__exact": "Revoked"}
        ).status_code
        == 200
    )


def test_requests_are_not_added_in_admin_and_identity_is_read_only(admin_client, history):
    assert admin_client.get(reverse("admin:requests_app_useraccessrequest_add")).status_code == 403
    revoked = history[0]
    page = admin_client.get(reverse("admin:requests_app_useraccessrequest_change", args=[revoked.pk]))
    assert page.status_code == 200
    form_fields = page.context["adminform"].form.fields
    assert "request_id" not in form_fields and "status" not in form_fields


@pytest.mark.parametrize(("model", "index"), [("revokedaccess", 0), ("expirynotification", 2)])
def test_history_is_read_only(admin_client, history, model, index):
    obj = history[index] if model == "expirynotification" else RevokedAccess.objects.get()
    change = reverse(f"admin:requests_app_{model}_change", args=[obj.pk])
    page = admin_client.get(change)
    assert page.status_code == 200
    assert page.context["has_change_permission"] is False
    assert page.context["has_delete_permission"] is False
    assert admin_client.post(change, {"revoked_by": "someone else"}).status_code == 403
    assert admin_client.get(reverse(f"admin:requests_app_{model}_add")).status_code == 403
    assert admin_client.get(reverse(f"admin:requests_app_{model}_delete", args=[obj.pk])).status_code == 403
    assert UserAccessRequest.objects.count() == 3
    assert RevokedAccess.objects.get().revoked_by == "System - Scheduled Expiry Job"


# --- Actions for several requests at once ---------------------------------------------


def _action(admin_client, action: str, requests, **fields):
    url = reverse("admin:requests_app_useraccessrequest_changelist")
    data = {"action": action, "_selected_action": [r.pk for r in requests]}
    return admin_client.post(url, {**data, **fields}, follow=True)


def test_extend_action_asks_for_duration_and_reason_then_extends_each(admin_client, make_request):
    from requests_app.models import AccessEvent

    a, b = make_request(expires_in=timedelta(days=2)), make_request(expires_in=timedelta(days=3))
    form = _action(admin_client, "extend_selected", [a, b])
    assert form.status_code == 200 and 'name="reason"' in form.content.decode()
    assert not AccessEvent.objects.exists()  # the first POST only shows the form
    done = _action(
        admin_client, "extend_selected", [a, b], apply="1", duration="90", reason="Quarter extended"
    )
    assert "Extended 2 requests." in done.content.decode()
    for r in (a, b):
        r.refresh_from_db()
        assert r.expires_on > db_now() + timedelta(days=89)
    assert (
        AccessEvent.objects.filter(event_type="Extended", actor="root", reason="Quarter extended").count()
        == 2
    )


def test_revoke_action_revokes_the_active_and_reports_the_others(admin_client, make_request, history):
    revoked, soon, _ = history
    active = make_request()
    done = _action(admin_client, "revoke_selected", [active, revoked, soon], apply="1", reason="Offboarding")
    html = done.content.decode()
    assert (
        "Revoked 2 requests." in html
        and f"{revoked.request_id}: Request {revoked.request_id} is Revoked" in html
    )
    assert RevokedAccess.objects.filter(revoked_by="root").count() == 2


def test_action_without_a_reason_shows_the_form_again_and_changes_nothing(admin_client, make_request):
    r = make_request()
    response = _action(admin_client, "revoke_selected", [r], apply="1", reason="")
    assert "Give a reason." in response.content.decode()
    r.refresh_from_db()
    assert r.status == "Active"


def test_audit_events_are_read_only_in_the_admin(admin_client, make_request):
    from requests_app.models import AccessEvent
    from requests_app.services import access_request_revoke

    r = make_request()
    access_request_revoke(request_id=r.request_id, reason="x", revoked_by="a")
    event = AccessEvent.objects.get()
    assert admin_client.get(reverse("admin:requests_app_accessevent_changelist")).status_code == 200
    assert admin_client.get(reverse("admin:requests_app_accessevent_add")).status_code == 403
    change = reverse("admin:requests_app_accessevent_change", args=[event.pk])
    assert admin_client.post(change, {"reason": "edited"}).status_code == 403
    assert (
        admin_client.post(reverse("admin:requests_app_accessevent_delete", args=[event.pk])).status_code
        == 403
    )
    assert AccessEvent.objects.get().reason == "x"
