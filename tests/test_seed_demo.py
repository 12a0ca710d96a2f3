from datetime import timedelta
from io import StringIO

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.http import HttpRequest

from accessmgr.db import db_now
from requests_app.models import NEVER_EXPIRES, ExpiryNotification, RevokedAccess, UserAccessRequest

pytestmark = pytest.mark.django_db


def seed(*args) -> str:
    out = StringIO()
    call_command("seed_demo", *args, stdout=out, stderr=StringIO())
    return out.getvalue()


def days_left(obj, now) -> float:
    return (obj.expires_on - now) / timedelta(days=1)


def test_seed_creates_a_realistic_mix(settings):
    settings.DEBUG = False
    seed()
    now = db_now()
    rows = list(UserAccessRequest.objects.select_related("revocation"))
    active = [r for r in rows if r.status == "Active"]
    revoked = [r for r in rows if r.status == "Revoked"]

    assert len([r for r in active if r.expires_on <= now]) >= 3  # for the revoke page
    for days in (1, 5, 29):  # the notification job's test durations
        assert any(abs(days_left(r, now) - days) < 0.01 for r in active), days
    assert any(60 <= days_left(r, now) < 1000 for r in active)
    assert len([r for r in active if r.expires_on == NEVER_EXPIRES]) >= 2
    assert len(revoked) >= 2
    assert all(r.revocation.revoked_by for r in revoked)
    assert RevokedAccess.objects.count() == len(revoked)
    assert ExpiryNotification.objects.exists()
    assert all(r.request_id.startswith("REQ-DEMO-") for r in rows)


def test_seed_is_idempotent(settings):
    settings.DEBUG = False
    first = seed()
    counts = (
        UserAccessRequest.objects.count(),
        RevokedAccess.objects.count(),
        ExpiryNotification.objects.count(),
    )
    second = seed()
    assert (
        UserAccessRequest.objects.count(),
        RevokedAccess.objects.count(),
        ExpiryNotification.objects.count(),
    ) == counts
    assert f"{counts[0]} created, 0 already there" in first
    assert f"0 created, {counts[0]} already there" in second


def test_seed_keeps_what_happened_to_rows_and_reset_recreates(settings):
    settings.DEBUG = False
    seed()
    obj = UserAccessRequest.objects.filter(status="Active").first()
    obj.status = "Revoked"
    obj.save()
    seed()
    obj.refresh_from_db()
    assert obj.status == "Revoked"
    total = UserAccessRequest.objects.count()
    seed("--reset")
    assert UserAccessRequest.objects.get(request_id=obj.request_id).status == "Active"
    assert UserAccessRequest.objects.count() == total


def test_seed_leaves_other_requests_alone(settings, make_request):
    settings.DEBUG = False
    mine = make_request()
    seed("--reset")
    assert UserAccessRequest.objects.filter(pk=mine.pk).exists()


def test_no_demo_user_when_debug_is_off(settings):
    settings.DEBUG = False
    out = seed()
    assert not User.objects.filter(username="demo").exists()
    assert "no demo user" in out


def test_demo_user_with_job_permissions_when_debug_is_on(settings, client):
    settings.DEBUG = True
    out = seed()
    seed()
    user = User.objects.get(username="demo")
    assert user.has_perm("jobs.run_revoke_job") and user.has_perm("jobs.run_notification_job")
    assert "username 'demo', password 'demo'" in out
    # axes (login throttling) needs the request that authenticate() is called for
    assert client.login(request=HttpRequest(), username="demo", password="demo")
    assert User.objects.filter(username="demo").count() == 1


def test_the_demo_user_sees_everything_and_owns_three_demo_requests(settings, client):
    settings.DEBUG = True
    seed()
    user = User.objects.get(username="demo")
    for perm in ("view_all_requests", "create_for_others", "change_useraccessrequest"):
        assert user.has_perm(f"requests_app.{perm}")
    owned = sorted(UserAccessRequest.objects.filter(requester=user).values_list("request_id", flat=True))
    assert owned == ["REQ-DEMO-0002", "REQ-DEMO-0008", "REQ-DEMO-0014"]
    client.force_login(user)
    assert client.get("/").status_code == 200  # All Requests, as before
    assert client.get("/my-access/").context["page"].paginator.count == 3
