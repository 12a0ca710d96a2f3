"""jobs/emails.py and the expiry reminder templates: what a requestor receives."""

from datetime import UTC, datetime

import pytest
from django.core import mail

from jobs.emails import email_build
from jobs.notifications import PendingNotification


def _item(**changes) -> PendingNotification:
    fields = dict(
        request_id="REQ-2026-000123",
        requestor_name="Ada <Lovelace>",
        email="ada@example.com",
        resource_name="Payroll & HR share",
        expires_on=datetime(2026, 12, 5, 14, 30, tzinfo=UTC),
        days_left=7,
        sent_count=1,
        reminder="7-Day Reminder",
    )
    return PendingNotification(**(fields | changes))


def test_reminder_email_says_who_what_when_and_how_many_days_left():
    message = email_build(name="expiry-reminder", to="ada@example.com", context={"item": _item()})

    assert message.to == ["ada@example.com"]
    assert message.subject == "7-Day Reminder: your access to Payroll & HR share expires in 7 days"
    for text in (
        "Ada <Lovelace>",
        "Payroll & HR share",
        "REQ-2026-000123",
        "Saturday 5 December 2026, 14:30 UTC",
    ):
        assert text in message.body
    assert "in 7 days" in message.body
    html, mimetype = message.alternatives[0]
    assert mimetype == "text/html"
    assert "Ada &lt;Lovelace&gt;" in html and "Payroll &amp; HR share" in html
    assert "in <strong>7 days</strong>" in html


def test_reminder_email_says_today_and_tomorrow_in_words():
    today = email_build(name="expiry-reminder", to="a@example.com", context={"item": _item(days_left=0)})
    tomorrow = email_build(name="expiry-reminder", to="a@example.com", context={"item": _item(days_left=1)})
    assert today.subject.endswith("expires today") and ", today." in today.body
    assert tomorrow.subject.endswith("expires tomorrow") and ", tomorrow." in tomorrow.body


def test_subject_is_one_line_even_with_a_newline_in_the_resource_name():
    message = email_build(
        name="expiry-reminder", to="a@example.com", context={"item": _item(resource_name="A\nB")}
    )
    assert "\n" not in message.subject


def test_expiry_is_shown_in_utc_whatever_the_display_time_zone(settings):
    settings.TIME_ZONE = "America/New_York"
    message = email_build(name="expiry-reminder", to="a@example.com", context={"item": _item()})
    assert "14:30 UTC" in message.body


def test_sent_reminders_land_in_the_file_outbox_in_development(settings, tmp_path):
    settings.EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
    settings.EMAIL_FILE_PATH = str(tmp_path)
    email_build(name="expiry-reminder", to="ada@example.com", context={"item": _item()}).send()
    (written,) = tmp_path.iterdir()
    content = written.read_text()
    assert "To: ada@example.com" in content and "7-Day Reminder" in content
    assert "text/plain" in content and "text/html" in content


@pytest.mark.parametrize("days", [0, 1, 5, 30])
def test_every_reminder_renders_to_the_locmem_outbox_in_tests(days):
    email_build(name="expiry-reminder", to="a@example.com", context={"item": _item(days_left=days)}).send()
    assert len(mail.outbox) == 1 and mail.outbox[0].subject
