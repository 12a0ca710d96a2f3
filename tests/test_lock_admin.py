"""The job-run tables in the Django admin: read-only, newest first, filter by status,
duration and error shown."""

from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission, User
from django.urls import reverse

from accessmgr.db import db_now
from jobs.models import NotificationJobRun, RevokeExpiredJobRun
from tests.factories import run_make

ADMIN_MODELS = {"revokeexpiredjobrun": RevokeExpiredJobRun, "notificationjobrun": NotificationJobRun}


@pytest.fixture
def staff_client(client, db):
    """Staff with only the view permission on the run tables."""
    staff = User.objects.create_user("sam", "sam@example.com", "pw", is_staff=True)
    staff.user_permissions.add(
        *Permission.objects.filter(codename__in=[f"view_{name}" for name in ADMIN_MODELS])
    )
    client.force_login(staff)
    return client


@pytest.fixture
def superuser_client(client, db):
    client.force_login(User.objects.create_superuser("root", "root@example.com", "pw"))
    return client


@pytest.fixture
def runs(db):
    now = db_now()
    made = {}
    for name, model in ADMIN_MODELS.items():
        made[name] = [
            run_make(
                model,
                job_id=f"{name[:6]}-old",
                started_at=now - timedelta(hours=2),
                seconds=42,
                started_by="web-1:1",
                triggered_by="cron",
            ),
            run_make(
                model,
                job_id=f"{name[:6]}-failed",
                status="Failed",
                started_at=now - timedelta(hours=1),
                seconds=185,
                started_by="web-2:2",
                error_message="SMTP server refused the connection",
            ),
            run_make(
                model, job_id=f"{name[:6]}-running", status="InProgress", started_at=now, started_by="web-1:3"
            ),
        ]
    return made


@pytest.mark.parametrize("name", ADMIN_MODELS)
def test_changelist_renders_newest_first_with_duration_and_error(staff_client, runs, name):
    response = staff_client.get(reverse(f"admin:jobs_{name}_changelist"))
    assert response.status_code == 200
    html = response.content.decode()
    positions = [html.index(f"{name[:6]}-{suffix}") for suffix in ("running", "failed", "old")]
    assert positions == sorted(positions)
    assert "Duration" in html
    assert "42.0 s" in html
    assert "3 min 05 s" in html
    assert "running" in html
    assert "SMTP server refused the connection" in html
    assert "addlink" not in html  # no "Add" button


@pytest.mark.parametrize("name", ADMIN_MODELS)
def test_changelist_filters_by_status(superuser_client, runs, name):
    response = superuser_client.get(reverse(f"admin:jobs_{name}_changelist"), {"status__exact": "Failed"})
    assert response.status_code == 200
    html = response.content.decode()
    assert f"{name[:6]}-failed" in html
    assert f"{name[:6]}-old" not in html


@pytest.mark.parametrize("name", ADMIN_MODELS)
def test_runs_cannot_be_added_changed_or_deleted_even_by_a_superuser(superuser_client, runs, name):
    run = runs[name][1]
    assert superuser_client.get(reverse(f"admin:jobs_{name}_add")).status_code == 403
    detail = superuser_client.get(reverse(f"admin:jobs_{name}_change", args=[run.pk]))
    assert detail.status_code == 200  # view only
    assert "SMTP server refused the connection" in detail.content.decode()
    assert 'name="_save"' not in detail.content.decode()
    assert (
        superuser_client.post(
            reverse(f"admin:jobs_{name}_change", args=[run.pk]), {"status": "Completed"}
        ).status_code
        == 403
    )
    assert superuser_client.get(reverse(f"admin:jobs_{name}_delete", args=[run.pk])).status_code == 403
    assert ADMIN_MODELS[name].objects.get(pk=run.pk).status == "Failed"
