"""Delivery right after a commit (webhooks/trigger.py, WEBHOOK_DELIVER_ON_COMMIT): the
receiver hears of a change without anyone running deliver_events, a rollback sends nothing,
and commits during a run make it run once more in the same thread."""

import json
import threading
from datetime import timedelta

import pytest
from django.db import transaction
from django.test import override_settings

from jobs.models import DeliverEventsJobRun
from jobs.revoke import revoke_expired_run
from requests_app.services import access_request_create
from webhooks.models import CREATED, REVOKED
from webhooks.services import endpoint_create
from webhooks.trigger import TRIGGERED_BY, deliveries_wait

from .webhook_receiver import Receiver

pytestmark = [pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def on_commit_delivery():
    with override_settings(WEBHOOK_DELIVER_ON_COMMIT=True, WEBHOOK_ALLOW_PRIVATE_NETWORKS=True):
        yield
        deliveries_wait(30)  # no thread outlives its test


def create(name: str = "Ada") -> str:
    with transaction.atomic():
        return access_request_create(
            requestor_name=name,
            requestor_email=f"{name.lower()}@example.com",
            resource_name="VPN",
            duration="30",
        ).request_id


def delivered_ids(receiver: Receiver) -> list[str]:
    return [json.loads(r.body)["data"]["requestId"] for r in receiver.received]


def test_a_created_request_reaches_the_receiver_without_deliver_events():
    with Receiver() as receiver:
        endpoint_create(url=receiver.url, event_types=[CREATED])
        request_id = create()
        deliveries_wait(30)

    assert delivered_ids(receiver) == [request_id]
    run = DeliverEventsJobRun.objects.get()
    assert (run.status, run.triggered_by, run.success_count) == ("Completed", TRIGGERED_BY, 1)


def test_a_rolled_back_change_starts_no_delivery():
    with Receiver() as receiver:
        endpoint_create(url=receiver.url)
        with pytest.raises(RuntimeError), transaction.atomic():
            create()
            raise RuntimeError("the change fails after its event was recorded")
        deliveries_wait(30)

    assert receiver.received == []
    assert not DeliverEventsJobRun.objects.exists()


def test_the_revoke_job_s_events_are_delivered_when_it_ends(make_request):
    with Receiver() as receiver:
        endpoint_create(url=receiver.url, event_types=[REVOKED])
        expired = [make_request(expires_in=-timedelta(hours=1)) for _ in range(3)]
        revoke_expired_run(triggered_by="test")
        deliveries_wait(30)

    assert sorted(delivered_ids(receiver)) == sorted(r.request_id for r in expired)


def test_a_commit_during_a_run_makes_the_same_thread_run_once_more():
    first_received, release = threading.Event(), threading.Event()

    def answer(n):
        if n == 1:
            first_received.set()
            release.wait(30)  # hold the first run while the second change commits
        return 200

    with Receiver(answer=answer) as receiver:
        endpoint_create(url=receiver.url, event_types=[CREATED])
        first = create("Ada")
        assert first_received.wait(30)
        second = create("Bo")  # the thread is busy: it is asked to run again
        release.set()
        deliveries_wait(30)

    assert delivered_ids(receiver) == [first, second]
    # Two runs, one after the other, never two at once (the first may already pick up the
    # second event in its next round; the second run then finds nothing left)
    one, two = DeliverEventsJobRun.objects.order_by("id")
    assert one.success_count + two.success_count == 2
    assert two.started_at >= one.completed_at


def test_off_or_without_an_active_endpoint_nothing_runs():
    with Receiver() as receiver:
        endpoint, _ = endpoint_create(url=receiver.url)
        with override_settings(WEBHOOK_DELIVER_ON_COMMIT=False):
            create("Ada")
            deliveries_wait(30)
        endpoint.active = False
        endpoint.save()
        create("Bo")
        deliveries_wait(30)

    assert receiver.received == []
    assert not DeliverEventsJobRun.objects.exists()
