"""The delivery job (jobs/delivery.py) against a real database and a real HTTP receiver."""

import json
from datetime import timedelta

import pytest
from django.db import transaction
from django.test import override_settings
from standardwebhooks import Webhook

from accessmgr.db import db_now
from jobs.delivery import deliver_events_run, delivery_retry
from jobs.models import DeliverEventsJobRun
from jobs.revoke import revoke_expired_run
from requests_app.services import access_request_create
from webhooks.events import event_record
from webhooks.models import CREATED, EXTENDED, REVOKED, WebhookAttempt, WebhookDelivery, WebhookEvent
from webhooks.services import endpoint_create

from .webhook_receiver import Receiver

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("private_networks"),
]

PENDING, DELIVERED, DEAD = (
    WebhookDelivery.Status.PENDING,
    WebhookDelivery.Status.DELIVERED,
    WebhookDelivery.Status.DEAD,
)


@pytest.fixture
def private_networks():
    with override_settings(WEBHOOK_ALLOW_PRIVATE_NETWORKS=True, WEBHOOK_RETRY_SECONDS=[0, 0, 0, 0, 0]):
        yield


def verified(receiver: Receiver, secret: str) -> list[dict]:
    """Every received body, each checked with the standardwebhooks library."""
    hook = Webhook(secret)
    return [hook.verify(r.body, r.headers) for r in receiver.received]


def test_500_revoked_requests_make_500_signed_deliveries(make_request):
    with Receiver() as receiver:
        endpoint, secret = endpoint_create(url=receiver.url, event_types=[REVOKED])
        for _ in range(500):
            make_request(expires_in=-timedelta(hours=1))
        revoked = revoke_expired_run(triggered_by="test")
        assert revoked.revoked_count == 500
        result = deliver_events_run(triggered_by="test")
    assert (result.dispatched_count, result.delivered_count, result.failed_count) == (500, 500, 0)
    bodies = verified(receiver, secret)
    assert len(bodies) == 500
    assert {b["type"] for b in bodies} == {REVOKED}
    assert len({r.headers["webhook-id"] for r in receiver.received}) == 500
    first = bodies[0]["data"]
    assert set(first) >= {"requestId", "requestorEmail", "resourceName", "revokedAt", "revokedBy", "jobId"}
    assert first["jobId"] == revoked.job_id
    assert {b["data"]["requestId"] for b in bodies} == set(
        WebhookEvent.objects.values_list("request_id", flat=True)
    )
    assert WebhookDelivery.objects.filter(endpoint=endpoint, status=DELIVERED).count() == 500
    run = DeliverEventsJobRun.objects.get(job_id=result.job_id)
    assert (run.status, run.success_count, run.failed_count) == ("Completed", 500, 0)


def test_a_receiver_answering_500_twice_gets_the_event_three_times_and_never_again():
    with Receiver(answer=lambda n: 500 if n <= 2 else 200) as receiver:
        _, secret = endpoint_create(url=receiver.url)
        access_request_create(
            requestor_name="Ada", requestor_email="ada@example.com", resource_name="VPN", duration="30"
        )
        first = deliver_events_run(triggered_by="test")
        again = deliver_events_run(triggered_by="test")
    assert (first.delivered_count, first.failed_count) == (1, 2)
    assert (again.delivered_count, again.failed_count) == (0, 0)
    assert len(receiver.received) == 3
    assert len({r.headers["webhook-id"] for r in receiver.received}) == 1
    assert [b["type"] for b in verified(receiver, secret)] == [CREATED] * 3
    delivery = WebhookDelivery.objects.get()
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == (DELIVERED, 3, 200)
    assert list(WebhookAttempt.objects.order_by("id").values_list("status_code", flat=True)) == [
        500,
        500,
        200,
    ]


@override_settings(WEBHOOK_TIMEOUT_SECONDS=0.2, WEBHOOK_RETRY_SECONDS=[3600, 7200])
def test_a_receiver_that_never_answers_is_cut_off_and_retried_with_backoff():
    with Receiver(answer=lambda n: None) as receiver:
        endpoint_create(url=receiver.url)
        with transaction.atomic():
            request = access_request_create(
                requestor_name="Bo", requestor_email="bo@example.com", resource_name="VPN", duration="30"
            )
        before = db_now()
        result = deliver_events_run(triggered_by="test")
        delivery = WebhookDelivery.objects.get()
        assert (result.delivered_count, result.failed_count, result.dead_count) == (0, 1, 0)
        assert delivery.status == PENDING and delivery.attempts == 1
        assert "Timed out" in delivery.last_error
        # 3,600 s ± 20 % jitter: not due again in this run or the next
        assert before + timedelta(seconds=2800) < delivery.next_attempt_at < before + timedelta(seconds=4400)
        assert deliver_events_run(triggered_by="test").failed_count == 0
        assert len(receiver.received) == 1
        # once due, the second (last) retry fails too: dead
        WebhookDelivery.objects.update(next_attempt_at=before)
        assert deliver_events_run(triggered_by="test").failed_count == 1
        WebhookDelivery.objects.update(next_attempt_at=before)
        assert deliver_events_run(triggered_by="test").dead_count == 1
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == (DEAD, 3)
    assert {r.headers["webhook-id"] for r in receiver.received} == {f"evt_{delivery.event_id}"}
    assert request.request_id == delivery.request_id


def test_a_dead_delivery_is_sent_again_by_retry_now():
    with Receiver(answer=lambda n: 503 if n <= 6 else 200) as receiver:
        endpoint_create(url=receiver.url)
        access_request_create(
            requestor_name="Cy", requestor_email="cy@example.com", resource_name="VPN", duration="30"
        )
        assert deliver_events_run(triggered_by="test").dead_count == 1
        delivery = WebhookDelivery.objects.get()
        assert delivery.status == DEAD
        assert delivery_retry(delivery_id=delivery.id)
        assert deliver_events_run(triggered_by="test").delivered_count == 1
    delivery.refresh_from_db()
    assert delivery.status == DELIVERED
    assert len(receiver.received) == 7
    assert not delivery_retry(delivery_id=delivery.id)  # delivered: nothing to retry


def test_a_later_event_of_a_request_waits_for_the_earlier_one():
    with Receiver(answer=lambda n: 500 if n == 1 else 200) as receiver:
        _, secret = endpoint_create(url=receiver.url)
        with transaction.atomic():
            request = access_request_create(
                requestor_name="Di", requestor_email="di@example.com", resource_name="VPN", duration="30"
            )
            event_record(type=EXTENDED, request=request, data={"reason": "project runs longer"})
        with override_settings(WEBHOOK_RETRY_SECONDS=[3600]):
            first = deliver_events_run(triggered_by="test")
        assert (first.delivered_count, first.failed_count) == (0, 1)  # created failed; extended waited
        assert len(receiver.received) == 1
        WebhookDelivery.objects.filter(status=PENDING).update(next_attempt_at=db_now())
        assert deliver_events_run(triggered_by="test").delivered_count == 2
    assert [b["type"] for b in verified(receiver, secret)] == [CREATED, CREATED, EXTENDED]
    extended = json.loads(receiver.received[-1].body)
    assert extended["data"]["reason"] == "project runs longer"


def test_an_endpoint_gets_only_the_types_it_wants_and_inactive_ones_nothing():
    with Receiver() as wants_created, Receiver() as wants_revoked, Receiver() as inactive:
        endpoint_create(url=wants_created.url, event_types=[CREATED])
        endpoint_create(url=wants_revoked.url, event_types=[REVOKED])
        endpoint_create(url=inactive.url, active=False)
        access_request_create(
            requestor_name="Ed", requestor_email="ed@example.com", resource_name="VPN", duration="30"
        )
        assert deliver_events_run(triggered_by="test").delivered_count == 1
    assert (len(wants_created.received), len(wants_revoked.received), len(inactive.received)) == (1, 0, 0)


def test_a_rolled_back_change_announces_nothing():
    with pytest.raises(RuntimeError), transaction.atomic():
        access_request_create(
            requestor_name="Fay", requestor_email="fay@example.com", resource_name="VPN", duration="30"
        )
        raise RuntimeError("rolled back")
    assert not WebhookEvent.objects.exists()


def test_events_outside_a_transaction_are_refused(make_request):
    with pytest.raises(RuntimeError, match="inside the transaction"):
        event_record(type=CREATED, request=make_request())
    with pytest.raises(ValueError, match="unknown event type"), transaction.atomic():
        event_record(type="access_request.deleted", request=make_request())
