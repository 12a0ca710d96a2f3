import pytest

from accessmgr.db import db_now
from jobs.lock import LockHeld, lock_acquire, lock_status
from jobs.models import NotificationJobRun, RevokeExpiredJobRun


@pytest.mark.django_db(transaction=True)
def test_second_acquire_is_refused_until_release():
    first = lock_acquire(job=RevokeExpiredJobRun, triggered_by="alice")
    with pytest.raises(LockHeld) as refused:
        lock_acquire(job=RevokeExpiredJobRun, triggered_by="bob")
    assert refused.value.active_job["jobId"] == first.job_id
    assert lock_status(job=RevokeExpiredJobRun)["isLocked"] is True
    assert lock_status(job=NotificationJobRun)["isLocked"] is False
    assert first.release(status="Completed", revoked_count=0)
    assert lock_status(job=RevokeExpiredJobRun) == {"isLocked": False, "activeJob": None}
    second = lock_acquire(job=RevokeExpiredJobRun, triggered_by="bob")
    second.release(status="Completed", revoked_count=0)
    assert db_now().tzinfo is not None
