"""requests_app/services.py: extend and revoke by hand, and the audit events they (and
create) write in the same transaction."""

from datetime import date, timedelta

import pytest

from accessmgr.db import db_now
from requests_app.models import NEVER_EXPIRES, AccessEvent, RevokedAccess, UserAccessRequest
from requests_app.services import (
    REASON_MAX_LENGTH,
    AccessRequestNotActive,
    access_request_create,
    access_request_extend,
    access_request_revoke,
    custom_date_start,
)


def _snapshot(request_id: str) -> tuple:
    r = UserAccessRequest.objects.get(request_id=request_id)
    return (r.status, r.expires_on, RevokedAccess.objects.count(), AccessEvent.objects.count())


@pytest.mark.django_db
def test_create_writes_a_created_event_with_the_creator_and_expiry():
    obj = access_request_create(
        requestor_name="Ada",
        requestor_email="ada@example.com",
        resource_name="DB",
        duration="30",
        created_by="alice",
    )
    (event,) = AccessEvent.objects.filter(request_id=obj.request_id)
    assert (event.event_type, event.actor, event.new_expires_on) == ("Created", "alice", obj.expires_on)
    assert event.occurred_at == obj.created_at  # the same database-clock instant


@pytest.mark.django_db
@pytest.mark.parametrize("duration,days", [("90", 90), ("1", 1), ("365", 365)])
def test_extend_sets_a_new_expiry_from_now_and_records_old_and_new(make_request, duration, days):
    r = make_request(expires_in=timedelta(days=3))
    before = db_now()
    extended = access_request_extend(
        request_id=r.request_id, duration=duration, reason="Project runs longer", extended_by="alice"
    )
    r.refresh_from_db()
    assert r.expires_on == extended.expires_on
    assert before + timedelta(days=days) <= r.expires_on <= db_now() + timedelta(days=days)
    (event,) = AccessEvent.objects.filter(request_id=r.request_id)
    assert (event.event_type, event.actor, event.reason) == ("Extended", "alice", "Project runs longer")
    assert event.new_expires_on == r.expires_on
    assert abs(event.old_expires_on - (before + timedelta(days=3))) < timedelta(minutes=1)
    assert event.job_id is None


@pytest.mark.django_db
def test_extend_to_never_and_to_a_custom_date(make_request):
    r = make_request()
    original = r.expires_on
    access_request_extend(request_id=r.request_id, duration="never", reason="Permanent role", extended_by="a")
    r.refresh_from_db()
    assert r.expires_on == NEVER_EXPIRES
    day = date.today() + timedelta(days=40)
    access_request_extend(
        request_id=r.request_id, duration="custom", custom_date=day, reason="Until the audit", extended_by="a"
    )
    r.refresh_from_db()
    assert r.expires_on == custom_date_start(day)
    events = AccessEvent.objects.filter(request_id=r.request_id).order_by("id")
    assert list(events.values_list("old_expires_on", "new_expires_on")) == [
        (original, NEVER_EXPIRES),
        (NEVER_EXPIRES, r.expires_on),
    ]


@pytest.mark.django_db
@pytest.mark.parametrize(
    "values,message",
    [
        ({"duration": "custom", "custom_date": date(2020, 1, 1)}, "in the future"),
        ({"duration": "custom", "custom_date": None}, "needs a date"),
        ({"duration": "14"}, "Unknown duration"),
        ({"duration": "90", "reason": "   "}, "reason"),
        ({"duration": "90", "reason": "x" * (REASON_MAX_LENGTH + 1)}, "at most"),
    ],
)
def test_extend_refuses_bad_input_and_changes_nothing(make_request, values, message):
    r = make_request()
    before = _snapshot(r.request_id)
    with pytest.raises(ValueError, match=message):
        access_request_extend(**{"reason": "ok", **values}, request_id=r.request_id, extended_by="a")
    assert _snapshot(r.request_id) == before


@pytest.mark.django_db
def test_revoke_marks_revoked_with_its_row_and_event_in_one_go(make_request):
    r = make_request()
    revoked = access_request_revoke(request_id=r.request_id, reason="Left the team", revoked_by="alice")
    assert revoked.status == "Revoked"
    row = RevokedAccess.objects.get(request_id=r.request_id)
    assert (row.revoked_by, row.job_id) == ("alice", None)
    (event,) = AccessEvent.objects.filter(request_id=r.request_id)
    assert (event.event_type, event.actor, event.reason, event.job_id) == (
        "Revoked",
        "alice",
        "Left the team",
        None,
    )
    assert event.occurred_at == row.revoked_dt


@pytest.mark.django_db
@pytest.mark.parametrize("change", ["extend", "revoke"])
def test_a_revoked_request_cannot_be_extended_or_revoked_again(make_request, change):
    r = make_request()
    access_request_revoke(request_id=r.request_id, reason="first", revoked_by="alice")
    before = _snapshot(r.request_id)
    with pytest.raises(AccessRequestNotActive, match="is Revoked: only Active requests can change"):
        if change == "extend":
            access_request_extend(request_id=r.request_id, duration="90", reason="again", extended_by="bob")
        else:
            access_request_revoke(request_id=r.request_id, reason="again", revoked_by="bob")
    assert _snapshot(r.request_id) == before


@pytest.mark.django_db
def test_unknown_request_id_raises_does_not_exist():
    with pytest.raises(UserAccessRequest.DoesNotExist):
        access_request_revoke(request_id="REQ-NOPE", reason="x", revoked_by="a")
    with pytest.raises(UserAccessRequest.DoesNotExist):
        access_request_extend(request_id="REQ-NOPE", duration="90", reason="x", extended_by="a")
    assert not AccessEvent.objects.exists()


@pytest.mark.django_db
def test_a_failing_audit_write_rolls_the_revoke_back(make_request, monkeypatch):
    import requests_app.services as services

    r = make_request()
    before = _snapshot(r.request_id)

    def broken(**kwargs):
        raise RuntimeError("audit table unavailable")

    monkeypatch.setattr(services, "access_event_record", broken)
    with pytest.raises(RuntimeError):
        access_request_revoke(request_id=r.request_id, reason="x", revoked_by="a")
    assert _snapshot(r.request_id) == before
