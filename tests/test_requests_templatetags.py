"""requests_app/templatetags/request_times.py: `time_tag` renders what the two `date`
filters it replaces rendered, with the zone's abbreviation, in any time zone."""

from datetime import UTC, datetime, timedelta
from datetime import timezone as dt_timezone

import pytest
from django.template import Context, Template, TemplateSyntaxError
from django.test import override_settings

from requests_app.models import NEVER_EXPIRES

OLD = Template("""<time datetime="{{ v|date:'c' }}">{{ v|date:"Y-m-d H:i T" }}</time>""")
NEW = Template("{% load request_times %}{{ v|time_tag }}")
OLD_SECONDS = Template("""<time datetime="{{ v|date:'c' }}">{{ v|date:"Y-m-d H:i:s T" }}</time>""")
NEW_SECONDS = Template('{% load request_times %}{{ v|time_tag:"seconds" }}')

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
        assert NEW_SECONDS.render(Context({"v": value})) == OLD_SECONDS.render(Context({"v": value}))


@pytest.mark.parametrize(
    "value, shown",
    [
        (datetime(2026, 12, 2, 4, 29, 11, tzinfo=UTC), "2026-12-02 05:29:11 CET"),
        (datetime(2026, 7, 2, 4, 29, 11, tzinfo=UTC), "2026-07-02 06:29:11 CEST"),
    ],
)
def test_time_tag_names_the_zone_of_that_instant(value, shown):
    with override_settings(TIME_ZONE="Europe/Berlin"):
        assert f">{shown}</time>" in NEW_SECONDS.render(Context({"v": value}))


def test_time_tag_refuses_an_unknown_precision():
    with pytest.raises(TemplateSyntaxError):
        Template('{% load request_times %}{{ v|time_tag:"hours" }}').render(
            Context({"v": datetime(2026, 3, 1, tzinfo=UTC)})
        )


def test_time_tag_follows_the_timezone_tag():
    value = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
    html = Template('{% load request_times tz %}{% timezone "Asia/Tokyo" %}{{ v|time_tag }}{% endtimezone %}')
    assert (
        html.render(Context({"v": value}))
        == '<time datetime="2026-03-01T18:00:00+09:00">2026-03-01 18:00 JST</time>'
    )


def test_time_tag_of_the_never_date_in_utc():
    assert NEW.render(Context({"v": NEVER_EXPIRES})) == OLD.render(Context({"v": NEVER_EXPIRES}))


@pytest.mark.parametrize("value", [None, ""])
def test_time_tag_of_nothing_is_empty(value):
    assert NEW.render(Context({"v": value})) == ""
