"""The Revoke Expired page (jobs.views.revoke_expired) and its run button (revoke_run)."""

import json
import re
from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse

import jobs.revoke
from jobs.models import RevokeExpiredJobRun
from requests_app.models import RevokedAccess, UserAccessRequest
from tests.factories import lock_held, requests_make

pytestmark = pytest.mark.django_db(transaction=True)

PAGE = reverse("jobs:revoke_expired")
RUN = reverse("jobs:revoke_run")
HTMX = {"HTTP_HX_REQUEST": "true"}


def run_button(html: str) -> str:
    match = re.search(r'<button[^>]*id="revoke-run-button"[^>]*>[^<]*</button>', html)
    assert match, "the run button is on the page"
    return match.group(0)


def is_disabled(button: str) -> bool:
    return re.search(r"\sdisabled[\s>]", button) is not None


@pytest.fixture
def held_lock():
    with lock_held(RevokeExpiredJobRun, triggered_by="bob", started_by="server-b:4242") as lock:
        yield lock


def test_page_with_nothing_to_revoke_disables_the_button(operator_client):
    requests_make(1, expires_in=timedelta(days=3))
    html = operator_client.get(PAGE).content.decode()

    button = run_button(html)
    assert "Run Revoke Job (0)" in button
    assert is_disabled(button)
    assert "Nothing to revoke." in html
    assert "No expired requests found to revoke." in html


def test_page_lists_the_expired_requests_and_enables_the_button(operator_client):
    expired = requests_make(2, expires_in=-timedelta(days=1))
    future = requests_make(1, expires_in=timedelta(days=3))
    html = operator_client.get(PAGE).content.decode()

    button = run_button(html)
    assert "Run Revoke Job (2)" in button
    assert not is_disabled(button)
    for r in expired:
        assert r.request_id in html
    assert future[0].request_id not in html
    assert 'hx-trigger="job-changed from:body"' in html
    assert 'hx-post="' + RUN + '"' in button
    assert 'hx-disabled-elt="this"' in button
    assert 'name="htmx-config"' in html  # 409/403/500 result panels are swapped too
    assert 'id="job-banner-revoke"' in html  # polls even while unlocked
    assert 'id="last-runs-revoke"' in html  # the job's last runs, refreshed on job-changed


def test_page_while_another_run_holds_the_lock_disables_the_button(operator_client, held_lock):
    requests_make(2, expires_in=-timedelta(days=1))
    html = operator_client.get(PAGE).content.decode()

    button = run_button(html)
    assert "Run Revoke Job (2)" in button
    assert is_disabled(button)
    assert "A revoke run is in progress" in html
    assert "Job is currently running — Started by server-b:4242" in html  # the polling banner


def test_page_without_the_permission_disables_the_button_with_a_reason(user_client):
    requests_make(2, expires_in=-timedelta(days=1))
    html = user_client.get(PAGE).content.decode()

    assert is_disabled(run_button(html))
    assert "You do not have permission to run the revoke job." in html


def test_page_needs_login(client):
    response = client.get(PAGE)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_htmx_refresh_returns_only_the_data_panel(operator_client):
    requests_make(1, expires_in=-timedelta(days=1))
    response = operator_client.get(PAGE, **HTMX)

    html = response.content.decode()
    assert response.status_code == 200
    assert 'id="revoke-panel"' in html
    assert "<html" not in html
    assert "Run Revoke Job (1)" in html


def test_run_revokes_and_shows_the_result_panel(operator_client):
    requests_make(3, expires_in=-timedelta(days=1))
    response = operator_client.post(RUN, **HTMX)

    html = response.content.decode()
    assert response.status_code == 200
    assert "Revoked 3 expired access requests." in html
    assert "Revoked: 3" in html
    assert "job-changed" in json.loads(response["HX-Trigger"])
    assert UserAccessRequest.objects.filter(status="Revoked").count() == 3
    assert RevokedAccess.objects.count() == 3
    run = RevokeExpiredJobRun.objects.get()
    assert run.triggered_by == "olivia"
    assert run.job_id in html


def test_run_with_nothing_to_revoke_says_so(operator_client):
    response = operator_client.post(RUN, **HTMX)
    assert response.status_code == 200
    assert "No expired requests found to revoke." in response.content.decode()


def test_second_run_gets_409_with_the_holders_details_and_changes_nothing(operator_client, held_lock):
    requests_make(2, expires_in=-timedelta(days=1))
    response = operator_client.post(RUN, **HTMX)

    html = response.content.decode()
    assert response.status_code == 409
    assert "The revoke job is already running." in html
    assert "server-b:4242" in html
    assert held_lock.job_id in html
    assert "job-changed" in json.loads(response["HX-Trigger"])
    assert not UserAccessRequest.objects.filter(status="Revoked").exists()
    assert not RevokedAccess.objects.exists()


def test_run_without_the_permission_is_403_and_changes_nothing(user_client):
    requests_make(2, expires_in=-timedelta(days=1))
    response = user_client.post(RUN, **HTMX)

    assert response.status_code == 403
    assert "You do not have permission to run the revoke job." in response.content.decode()
    assert not UserAccessRequest.objects.filter(status="Revoked").exists()
    assert not RevokeExpiredJobRun.objects.exists()


def test_failed_run_shows_the_error_and_changes_nothing(operator_client, monkeypatch):
    requests_make(2, expires_in=-timedelta(days=1))

    def insert_fails(**kwargs):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(jobs.revoke, "revoke_chunk", insert_fails)
    response = operator_client.post(RUN, **HTMX)

    html = response.content.decode()
    assert response.status_code == 500
    assert "The revoke job failed." in html
    assert "disk on fire" in html
    assert RevokeExpiredJobRun.objects.get().status == "Failed"
    assert not UserAccessRequest.objects.filter(status="Revoked").exists()


def test_run_without_htmx_renders_the_whole_page_with_the_result(operator_client):
    requests_make(1, expires_in=-timedelta(days=1))
    response = operator_client.post(RUN)

    html = response.content.decode()
    assert response.status_code == 200
    assert "<html" in html
    assert "Revoked 1 expired access request." in html
    assert "Run Revoke Job (0)" in html
    assert is_disabled(run_button(html))


def test_run_refuses_get(operator_client):
    assert operator_client.get(RUN).status_code == 405
    assert not RevokeExpiredJobRun.objects.exists()


def test_run_needs_the_csrf_token(operator):
    client = Client(enforce_csrf_checks=True)
    client.force_login(operator)
    requests_make(1, expires_in=-timedelta(days=1))
    assert client.post(RUN, **HTMX).status_code == 403
    assert not RevokeExpiredJobRun.objects.exists()
