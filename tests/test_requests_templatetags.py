"""requests_app/templatetags/request_times.py: `time_tag` renders what the two `date`
filters it replaces rendered, in any time zone."""

from datetime import UTC, datetime, timedelta
from datetime import timezone as dt_timezone

import pytest
from django.template import Context, Template
from django.test import override_settings

from requests_app.models import NEVER_EXPIRES

OLD = Template("""<time datetime="{{ v|date:'c' }}">{{ v|date:"Y-m-d H:i" }}</time>""")
NEW = Template("{% load request_times %}{{ v|time_tag }}")

VALUES = [
    datetime(2026, 3, 1, 9, 0, tzinfo=UTC),
    datetime(2026, 3, 29, 0, 59, 59, 999999, tzinfo=UTC),  # the night Europe/Paris moves to summer time
    datetime(2026, 12, 31, 23, 30, 5, 123, tzinfo=UTC),
    datetime(2027, 6, 15, 12, 45, tzinfo=dt_timezone(timedelta(hours=-7))),
    datetime(1999, 1, 2, 3, 4, tzinfo=UTC),
]


@pytest.mark.parametrize("time_zone", ["UTC", "Europe/Paris", "America/New_York", "Asia/Kolkata"])
@pytest.mark.parametrize("value", VALUES, ids=str)
def test_time_tag_renders_what_the_date_filters_rendered(time_zone, value):
    with override_settings(TIME_ZONE=time_zone):
        assert NEW.render(Context({"v": value})) == OLD.render(Context({"v": value}))


def test_time_tag_follows_the_timezone_tag():
    value = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
    html = Template('{% load request_times tz %}{% timezone "Asia/Tokyo" %}{{ v|time_tag }}{% endtimezone %}')
    assert (
        html.render(Context({"v": value}))
        == '<time datetime="2026-03-01T18:00:00+09:00">2026-03-01 18:00</time>'
    )


def test_time_tag_of_the_never_date_in_utc():
    assert NEW.render(Context({"v": NEVER_EXPIRES})) == OLD.render(Context({"v": NEVER_EXPIRES}))


@pytest.mark.parametrize("value", [None, ""])
def test_time_tag_of_nothing_is_empty(value):
    assert NEW.render(Context({"v": value})) == ""
