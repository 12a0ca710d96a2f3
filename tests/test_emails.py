"""jobs/emails.py and the expiry reminder templates: what a requestor receives."""

import copy
from datetime import UTC, datetime, timedelta

import pytest
from django.core import mail

from jobs.emails import EmailRenderer, email_build
from jobs.notifications import (
    REMINDER_FIELDS,
    REMINDER_VARIANT,
    PendingNotification,
    notification_email,
    notification_emails,
)


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


# --- Rendered once per variant (jobs.emails.EmailRenderer) -------------------------------------

TRICKY_NAMES = [
    "Ada <Lovelace>",
    'O\'Brien & "Sons"',
    "  two  spaces\tand a tab ",
    "Zoë Ünal — 李雷",
    "\x1e0\x1e looks like a marker",
    "{{ item.request_id }} {% if %}",
]


def _content(message) -> tuple:
    return (message.subject, message.body, message.alternatives, message.to, message.extra_headers)


def test_reminders_rendered_once_per_variant_are_byte_for_byte_the_whole_rendering(settings):
    settings.SITE_URL = "https://access.example.com/a?b=1&c=<2>"
    items = [
        _item(
            request_id=f"REQ-{n}",
            requestor_name=name,
            resource_name=f"{name} share",
            email=f"u{n}@example.com",
            days_left=days,
            reminder=reminder,
            expires_on=datetime(2026, 12, 5, 14, 30, tzinfo=UTC) + timedelta(days=days, minutes=n),
        )
        for n, (name, days, reminder) in enumerate(
            (name, days, reminder)
            for name in TRICKY_NAMES
            for days in (0, 1, 7, 29)
            for reminder in ("30-Day Reminder", "7-Day Reminder")
        )
    ]
    build = notification_emails()

    for item in items:
        assert _content(build(item)) == _content(notification_email(item))
    renderer = EmailRenderer("expiry-reminder", fields=REMINDER_FIELDS, variant=REMINDER_VARIANT)
    for item in items:
        renderer.build(item, to=item.email)
    assert not renderer.whole
    assert len(renderer._parts) == 4 * 2  # one rendering per (days left, type), not per email


def test_a_template_reading_an_undeclared_attribute_is_rendered_whole(caplog):
    renderer = EmailRenderer(
        "expiry-reminder", fields=[f for f in REMINDER_FIELDS if f != "page_url"], variant=REMINDER_VARIANT
    )
    first, second = _item(request_id="REQ-1"), _item(request_id="REQ-2")

    emails = [renderer.build(item, to=item.email) for item in (first, second)]

    assert renderer.whole
    assert [e.body for e in emails] == [notification_email(i).body for i in (first, second)]
    assert "REQ-2" in emails[1].body  # not the first item's page
    assert "page_url" in caplog.text


def test_a_template_that_filters_a_printed_value_is_rendered_whole(settings, tmp_path):
    (tmp_path / "emails").mkdir()
    for part, text in (
        ("subject.txt", "{{ item.requestor_name|upper }}"),
        ("body.txt", "Hello {{ item.requestor_name }}"),
        ("body.html", "<p>{{ item.requestor_name }}</p>"),
    ):
        (tmp_path / "emails" / f"shout-{part}").write_text(text)
    settings.TEMPLATES = [{**settings.TEMPLATES[0], "DIRS": [tmp_path]}]
    renderer = EmailRenderer("shout", fields=["requestor_name"], variant=[])

    first = renderer.build(_item(requestor_name="ada"), to="a@example.com")
    second = renderer.build(_item(requestor_name="bob"), to="b@example.com")

    assert renderer.whole
    assert (first.subject, second.subject) == ("ADA", "BOB")


def _headers_and_parts(message) -> tuple:
    """Its headers but Date and Content-Type (its boundary is random), and each part's content."""
    headers = [(k, v) for k, v in message.items() if k not in ("Date", "Content-Type")]
    return headers, [p.get_payload(decode=True) for p in message.walk() if not p.is_multipart()]


def test_a_prepared_email_sends_the_one_message_it_made_and_a_copy_makes_its_own():
    prepared = notification_email(_item()).prepare()
    made = prepared.message()
    assert prepared.message() is made
    copied = copy.deepcopy(prepared)
    assert copied.message() is not made and copied.message() is not copied.message()
    assert _headers_and_parts(copied.message()) == _headers_and_parts(notification_email(_item()).message())
    assert _headers_and_parts(made) == _headers_and_parts(notification_email(_item()).message())
