"""The Expiry Notifications page, its HTMX panel refresh and its run button."""

import re

import pytest
from django.core import mail
from django.urls import reverse

from accessmgr.db import db_now
from jobs.models import NotificationJobRun
from requests_app.models import ExpiryNotification
from tests.factories import expiry_in, lock_held, request_make

PAGE = reverse("jobs:expiry_notifications")
RUN = reverse("jobs:notifications_run")
HTMX = {"HTTP_HX_REQUEST": "true"}


def _button(html: str) -> str:
    return re.search(r'<button[^>]*id="notify-run-button"[^>]*>[^<]*</button>', html).group(0)


def _disabled(button: str) -> bool:
    return re.search(r"\sdisabled[\s>]", button) is not None


@pytest.fixture
def demo(db):
    """The demo's 1-, 5- and 29-day requests, plus ones that need nothing."""
    now = db_now()
    rows = [
        request_make(expires_on=expiry_in(days, now), requestor_email=f"in{days}@example.com")
        for days in (1, 5, 29)
    ]
    request_make(expires_on=expiry_in(60, now))
    request_make(expires_on=expiry_in(20, now), reminders=1)
    return rows


def test_anonymous_is_sent_to_login(client):
    response = client.get(PAGE)
    assert response.status_code == 302 and "/login/" in response["Location"]


def test_page_lists_the_requests_due_a_reminder_with_the_button_count(operator_client, demo):
    response = operator_client.get(PAGE)

    html = response.content.decode()
    assert response.status_code == 200
    for req in demo:
        assert req.request_id in html
    assert html.count('class="badge reminder">30-Day Reminder') == 3
    button = _button(html)
    assert "Trigger Notification to All (3)" in button and not _disabled(button)
    assert 'id="test-mode"' in html
    for mode in ("normal", "random", "pick"):
        assert f'name="mode" value="{mode}"' in html
    assert html.count('name="failEmail"') == 3


def test_without_the_permission_the_button_is_disabled_with_the_reason(user_client, demo):
    html = user_client.get(PAGE).content.decode()
    assert _disabled(_button(html))
    assert "You do not have permission to run the notification job." in html
    assert 'id="test-mode"' not in html and 'name="failEmail"' not in html  # nothing to try without it


def test_with_nothing_due_the_button_is_disabled_and_shows_zero(operator_client, db):
    html = operator_client.get(PAGE).content.decode()
    button = _button(html)
    assert "Trigger Notification to All (0)" in button and _disabled(button)
    assert "No requests need a notification right now." in html


@pytest.mark.django_db(transaction=True)
def test_while_a_run_holds_the_lock_the_button_is_disabled(operator_client, demo):
    with lock_held(NotificationJobRun):
        html = operator_client.get(PAGE).content.decode()
    assert _disabled(_button(html))
    assert "A notification run is in progress" in html
    assert 'id="job-banner-notifications"' in html and "Job is currently running" in html


def test_the_emails_to_tick_come_before_the_button_in_tab_order(operator_client, demo):
    html = operator_client.get(PAGE).content.decode()
    assert html.rindex('name="failEmail"') < html.index('id="notify-run-button"')
    assert html.index('name="mode"') < html.index('name="failEmail"')


def test_test_mode_off_hides_the_test_mode_panel(operator_client, demo, settings):
    settings.TEST_MODE = False
    html = operator_client.get(PAGE).content.decode()
    assert 'id="test-mode"' not in html and 'name="failEmail"' not in html
    assert not _disabled(_button(html))


def test_the_htmx_refresh_returns_only_the_panel_and_keeps_the_ticks(operator_client, demo):
    response = operator_client.get(PAGE, {"mode": "pick", "failEmail": "in5@example.com"}, **HTMX)

    html = response.content.decode()
    assert "<html" not in html and 'id="notifications-panel"' in html
    assert 'hx-trigger="job-changed from:body"' in html
    checked = re.findall(r'<input type="checkbox" name="failEmail" value="([^"]+)" checked>', html)
    assert checked == ["in5@example.com"]


@pytest.mark.django_db(transaction=True)
def test_a_run_with_picked_emails_shows_both_lists_and_the_figures(operator_client, demo):
    one, five, twentynine = demo

    response = operator_client.post(RUN, {"mode": "pick", "failEmail": [five.requestor_email]}, **HTMX)

    assert response.status_code == 200
    assert "job-changed" in response["HX-Trigger"]
    html = response.content.decode()
    assert "<html" not in html
    assert "Sent (2)" in html and "Failed (1)" in html
    sent, failed = html.split("Failed (1)")
    assert one.request_id in sent and twentynine.request_id in sent and five.request_id not in sent
    assert five.request_id in failed and "Simulated failure for in5@example.com" in failed
    assert "Parallel" in html and "Sequential (estimated)" in html
    assert sorted(m.to[0] for m in mail.outbox) == [one.requestor_email, twentynine.requestor_email]
    assert ExpiryNotification.objects.count() == 1 + 2  # the fixture's earlier one + two new


@pytest.mark.django_db(transaction=True)
def test_ticked_emails_are_ignored_unless_pick_mode_is_chosen(operator_client, demo):
    response = operator_client.post(RUN, {"mode": "normal", "failEmail": ["in5@example.com"]}, **HTMX)
    assert response.status_code == 200 and "Sent (3)" in response.content.decode()


@pytest.mark.django_db(transaction=True)
def test_a_run_while_locked_shows_the_holder_with_409(operator_client, demo):
    with lock_held(NotificationJobRun) as held:
        response = operator_client.post(RUN, {"mode": "normal"}, **HTMX)
    assert response.status_code == 409
    html = response.content.decode()
    assert "already running" in html and held.job_id in html and held.started_by in html
    assert "job-changed" in response["HX-Trigger"]
    assert not mail.outbox


@pytest.mark.django_db(transaction=True)
def test_random_failures_are_refused_with_400_when_test_mode_is_off(operator_client, demo, settings):
    settings.TEST_MODE = False
    response = operator_client.post(RUN, {"mode": "random"}, **HTMX)
    assert response.status_code == 400 and "TEST_MODE" in response.content.decode()
    assert not NotificationJobRun.objects.exists() and not mail.outbox


def test_an_unknown_mode_is_refused_with_400(operator_client, demo):
    response = operator_client.post(RUN, {"mode": "chaos"}, **HTMX)
    assert response.status_code == 400 and "Unknown test mode" in response.content.decode()


def test_running_needs_the_permission(user_client, demo):
    response = user_client.post(RUN, {"mode": "normal"}, **HTMX)
    assert response.status_code == 403 and "permission" in response.content.decode()
    assert not NotificationJobRun.objects.exists()


def test_run_is_post_only(operator_client):
    assert operator_client.get(RUN).status_code == 405


@pytest.mark.django_db(transaction=True)
def test_without_htmx_a_run_renders_the_whole_page_with_the_result(operator_client, demo):
    response = operator_client.post(RUN, {"mode": "normal"})
    html = response.content.decode()
    assert response.status_code == 200
    assert "<html" in html and "Sent (3)" in html
    # The table reflects the run: the 1- and 5-day requests are now due their 7-Day Reminder.
    assert "Trigger Notification to All (2)" in _button(html)
    assert html.count('class="badge reminder">7-Day Reminder') == 2


@pytest.mark.parametrize("ticked", [[], [""], ["  "]], ids=["none", "empty", "blank"])
def test_pick_mode_with_no_email_ticked_is_refused_with_400_and_runs_nothing(operator_client, demo, ticked):
    response = operator_client.post(RUN, {"mode": "pick", "failEmail": ticked}, **HTMX)
    assert response.status_code == 400
    html = response.content.decode()
    assert "Not run." in html and "no email is ticked" in html
    assert not NotificationJobRun.objects.exists() and not mail.outbox
    assert ExpiryNotification.objects.count() == 1  # the fixture's own
