"""Every time a page shows carries its real zone: with TIME_ZONE=Europe/Berlin each
<time datetime="…">text</time> prints the Berlin wall time of its instant with that instant's
abbreviation (CET in winter, CEST in summer), and no page prints a bare "UTC"."""

import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.test import override_settings
from django.urls import reverse

from accessmgr.db import db_now
from jobs.models import NotificationJobRun, RevokeExpiredJobRun
from requests_app.models import RevokedAccess
from tests.factories import lock_held, run_make

BERLIN = ZoneInfo("Europe/Berlin")
SUMMER = datetime(2026, 7, 2, 4, 29, 11, tzinfo=UTC)
WINTER = datetime(2025, 12, 2, 4, 29, 11, tzinfo=UTC)
TIME = re.compile(r'<time datetime="([^"]+)">([^<]*)</time>')

PAGES = [
    reverse("requests_app:all_requests"),
    reverse("requests_app:pending_expiry"),
    reverse("jobs:revoke_expired"),
    reverse("jobs:expiry_notifications"),
    reverse("jobs:job_history"),
    reverse("jobs:banner", args=["notifications"]) + "?locked=1",
    reverse("jobs:job_history") + "?job=revoke&box=1",
]


def assert_times_carry_their_zone(html: str, where: str) -> int:
    """Each <time> prints its instant in Berlin, with the zone of that instant; returns how many."""
    times = TIME.findall(html)
    for iso, text in times:
        local = datetime.fromisoformat(iso).astimezone(BERLIN)
        seconds = ":%S" if text.count(":") == 2 else ""
        assert text == local.strftime(f"%Y-%m-%d %H:%M{seconds} %Z"), f"{where}: {iso} shown as {text!r}"
    assert "UTC" not in TIME.sub("", html), f"{where} prints a bare UTC"
    return len(times)


@pytest.fixture
def world(make_request):
    """Rows whose times fall in summer and in winter, a revoked one, runs of both jobs and a
    notification run holding its lock (the banner)."""
    now = db_now()
    make_request(created_at=SUMMER, expires_in=timedelta(days=400))
    make_request(created_at=WINTER, expires_on=WINTER + timedelta(days=30))  # expired, still Active
    make_request(expires_in=timedelta(days=5))  # due a reminder
    revoked = make_request(created_at=SUMMER, expires_on=SUMMER + timedelta(days=1), status="Revoked")
    RevokedAccess.objects.create(request=revoked, revoked_dt=SUMMER + timedelta(days=2), revoked_by="olivia")
    for model, started in ((RevokeExpiredJobRun, SUMMER), (NotificationJobRun, WINTER)):
        run_make(model, started_at=started, seconds=3)
    with lock_held(NotificationJobRun, triggered_by="olivia"):
        yield now


@override_settings(TIME_ZONE="Europe/Berlin")
@pytest.mark.django_db(transaction=True)
def test_every_page_prints_each_time_in_its_zone(operator_client, world):
    shown = {}
    for url in PAGES:
        htmx = {"HTTP_HX_REQUEST": "true"} if "box=1" in url else {}  # the last-runs box is a fragment
        response = operator_client.get(url, **htmx)
        assert response.status_code == 200, url
        shown[url] = assert_times_carry_their_zone(response.content.decode(), url)
    assert all(shown.values()), f"a page showed no time: {shown}"
    html = operator_client.get(reverse("requests_app:all_requests")).content.decode()
    assert "2026-07-02 06:29 CEST" in html and "2025-12-02 05:29 CET" in html
