"""jobs.schedule: cron and interval schedules, their ticks, and bad values at start-up."""

from datetime import UTC, datetime, timedelta

import pytest

from jobs.schedule import schedule_parse

from .conftest import django_start

NOW = datetime(2026, 12, 2, 6, 16, 3, 250000, tzinfo=UTC)


def test_a_cron_schedule_has_its_latest_and_next_tick():
    schedule = schedule_parse("*/15 * * * *")
    assert schedule.latest(NOW) == datetime(2026, 12, 2, 6, 15, tzinfo=UTC)
    assert schedule.next(NOW) == datetime(2026, 12, 2, 6, 30, tzinfo=UTC)
    assert schedule.period(NOW) == timedelta(minutes=15)


def test_a_tick_time_is_its_own_latest_tick():
    schedule = schedule_parse("*/15 * * * *")
    tick = datetime(2026, 12, 2, 6, 15, tzinfo=UTC)
    assert schedule.latest(tick) == tick
    assert schedule.next(tick) == tick + timedelta(minutes=15)


def test_a_cron_schedule_counts_in_its_zone():
    schedule = schedule_parse("0 9 * * 1-5", zone="Europe/Berlin")  # 09:00 Berlin = 08:00 UTC in winter
    assert schedule.latest(NOW) == datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
    assert schedule.next(NOW) == datetime(2026, 12, 2, 8, 0, tzinfo=UTC)
    assert schedule.period(NOW) == timedelta(days=3)  # Friday to Monday


def test_interval_ticks_are_counted_from_the_epoch_so_every_server_agrees():
    schedule = schedule_parse("@every 500ms")
    assert schedule.latest(NOW) == datetime(2026, 12, 2, 6, 16, 3, tzinfo=UTC)
    assert schedule.next(NOW) == datetime(2026, 12, 2, 6, 16, 3, 500000, tzinfo=UTC)
    assert schedule_parse("@every 15m").latest(NOW) == datetime(2026, 12, 2, 6, 15, tzinfo=UTC)
    assert schedule_parse("@every 5s").period(NOW) == timedelta(seconds=5)


def test_an_empty_schedule_is_off():
    assert schedule_parse("") is None
    assert schedule_parse("   ") is None


@pytest.mark.parametrize(
    ("text", "zone", "says"),
    [
        ("@every 5x", "UTC", "is not an interval"),
        ("@every 10ms", "UTC", "shorter than 100 ms"),
        ("* * *", "UTC", "5-field cron"),
        ("61 * * * *", "UTC", "5-field cron"),
        ("* * * * * *", "UTC", "5-field cron"),
        ("@daily", "UTC", "5-field cron"),
        ("*/5 * * * *", "Mars/Olympus", "unknown time zone"),
    ],
)
def test_a_bad_schedule_says_what_is_wrong(text, zone, says):
    with pytest.raises(ValueError, match=says):
        schedule_parse(text, zone=zone)


def test_a_bad_schedule_setting_stops_start_up():
    started = django_start(REVOKE_SCHEDULE="every 5 minutes")
    assert started.returncode != 0
    assert "ImproperlyConfigured: REVOKE_SCHEDULE: 'every 5 minutes' is not" in started.stderr
