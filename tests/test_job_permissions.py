import pytest
from django.contrib.auth.models import User
from django.urls import reverse

from jobs.models import RevokeExpiredJobRun


@pytest.mark.django_db
@pytest.mark.parametrize("perm", ["jobs.run_revoke_job", "jobs.run_notification_job"])
def test_staff_may_run_both_jobs_and_others_may_not(perm):
    staff = User.objects.create_user("sam", is_staff=True)
    inactive_staff = User.objects.create_user("ivan", is_staff=True, is_active=False)
    plain = User.objects.create_user("pat")
    assert staff.has_perm(perm)
    assert not inactive_staff.has_perm(perm)
    assert not plain.has_perm(perm)


@pytest.mark.django_db
def test_staff_gets_no_other_permission():
    staff = User.objects.create_user("sam", is_staff=True)
    assert not staff.has_perm("requests_app.delete_useraccessrequest")
    assert not staff.has_perm("jobs.delete_revokeexpiredjobrun")


@pytest.mark.django_db(transaction=True)
def test_staff_user_runs_the_revoke_job_through_the_api(client):
    client.force_login(User.objects.create_user("sam", is_staff=True))
    response = client.post(reverse("jobs:api_revoke_expired"))
    assert response.status_code == 200, response.content
    assert RevokeExpiredJobRun.objects.get().triggered_by == "sam"
