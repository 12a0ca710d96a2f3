"""Revoke now and the revoke job racing on the same requests, in two OS processes on the
test database (SQLite file, or PostgreSQL with DATABASE_URL): every request ends Revoked
with exactly one RevokedAccess row and one "Revoked" audit event. Helpers: tests/lock_worker.py."""

import multiprocessing
from datetime import timedelta

import pytest
from django.db.models import Count

from requests_app.models import AccessEvent, RevokedAccess, UserAccessRequest
from tests import lock_worker
from tests.lock_worker import results_collect

PER_ROUND = 40


@pytest.mark.django_db(transaction=True)
def test_revoke_now_and_the_revoke_job_never_revoke_one_request_twice(child_env, make_request):
    ctx = multiprocessing.get_context("spawn")
    barrier, queue = ctx.Barrier(2), ctx.Queue()
    expired = [make_request(expires_in=-timedelta(hours=1)).request_id for _ in range(PER_ROUND)]
    # The job goes up the ids a chunk of one at a time; by hand goes down them: they meet.
    rounds = [list(reversed(expired))]
    procs = [
        ctx.Process(target=lock_worker.revoke_race_worker, args=(child_env, role, rounds, 1, barrier, queue))
        for role in ("hand", "job")
    ]
    for p in procs:
        p.start()
    results = results_collect(queue, 4, procs)
    done = {role: n for role, _, n, _ in results if role in ("hand", "job")}
    assert done["hand"] + done["job"] == PER_ROUND  # each request revoked by exactly one side

    revoked = UserAccessRequest.objects.filter(request_id__in=expired)
    assert set(revoked.values_list("status", flat=True)) == {"Revoked"}
    rows = RevokedAccess.objects.filter(request_id__in=expired)
    assert rows.count() == PER_ROUND
    assert not rows.values("request_id").annotate(n=Count("id")).filter(n__gt=1).exists()
    assert rows.filter(revoked_by="hand").count() == done["hand"]
    events = AccessEvent.objects.filter(request_id__in=expired, event_type="Revoked")
    assert events.count() == PER_ROUND
    assert events.filter(actor="hand").count() == done["hand"]
