import re
import threading
from datetime import date, timedelta

import pytest
from django.db import connection
from django.utils import timezone

from accessmgr.db import db_now
from requests_app.models import NEVER_EXPIRES, UserAccessRequest
from requests_app.services import access_request_create, access_request_expires_on

REQUEST_ID = re.compile(r"^REQ-\d{4}-\d{6}$")


def create(**overrides):
    values = {
        "requestor_name": "Alice Example",
        "requestor_email": "alice@example.com",
        "resource_name": "Production database",
        "duration": "30",
    }
    values.update(overrides)
    return access_request_create(**values)


@pytest.mark.django_db
def test_create_generates_request_id_from_year_and_row_id():
    obj = create()
    obj.refresh_from_db()
    assert REQUEST_ID.match(obj.request_id)
    assert obj.request_id == f"REQ-{obj.created_at.year}-{obj.pk:06d}"
    assert obj.status == UserAccessRequest.Status.ACTIVE


@pytest.mark.django_db
def test_create_sets_expiry_from_the_database_clock():
    before = db_now()
    obj = create(duration="5")
    assert before + timedelta(days=5) <= obj.expires_on <= db_now() + timedelta(days=5)
    assert obj.expires_on - obj.created_at == timedelta(days=5)


@pytest.mark.django_db
def test_never_stores_the_sentinel():
    obj = create(duration="never")
    obj.refresh_from_db()
    assert obj.expires_on == NEVER_EXPIRES
    assert obj.never_expires


@pytest.mark.parametrize("days", ["1", "5", "29", "30", "90", "180", "365"])
def test_every_duration_choice_adds_its_days(days):
    now = timezone.now()
    assert access_request_expires_on(duration=days, custom_date=None, now=now) == now + timedelta(
        days=int(days)
    )


def test_custom_date_starts_that_day_and_must_be_in_the_future():
    now = timezone.now()
    future = (now + timedelta(days=10)).date()
    assert access_request_expires_on(duration="custom", custom_date=future, now=now).date() == future
    with pytest.raises(ValueError, match="future"):
        access_request_expires_on(duration="custom", custom_date=date(2020, 1, 1), now=now)
    with pytest.raises(ValueError):
        access_request_expires_on(duration="custom", custom_date=None, now=now)


@pytest.mark.parametrize("duration", ["2", "0", "-1", "forever", ""])
def test_unknown_duration_is_refused(duration):
    with pytest.raises(ValueError, match="Unknown duration"):
        access_request_expires_on(duration=duration, custom_date=None, now=timezone.now())


@pytest.mark.django_db(transaction=True)
def test_request_ids_are_unique_under_concurrent_creation():
    threads, per_thread = 8, 5
    errors: list[BaseException] = []
    start = threading.Barrier(threads)

    def worker(n):
        try:
            start.wait()
            for i in range(per_thread):
                create(requestor_email=f"user{n}-{i}@example.com")
        except BaseException as exc:  # surfaced below
            errors.append(exc)
        finally:
            connection.close()

    pool = [threading.Thread(target=worker, args=(n,)) for n in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()

    assert errors == []
    ids = list(UserAccessRequest.objects.values_list("request_id", flat=True))
    assert len(ids) == threads * per_thread
    assert len(set(ids)) == len(ids)
    assert all(REQUEST_ID.match(i) for i in ids)
