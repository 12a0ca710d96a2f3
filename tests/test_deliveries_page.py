"""The Deliveries page: dead and failing deliveries, Retry now, Send test event, permission."""

import pytest
from django.contrib.auth.models import Permission
from django.db import transaction
from django.test import override_settings
from standardwebhooks import Webhook

from jobs.delivery import deliver_events_run
from jobs.models import DeliverEventsJobRun
from requests_app.services import access_request_create
from webhooks.models import TEST, WebhookDelivery
from webhooks.services import endpoint_create

from .webhook_receiver import Receiver

pytestmark = [pytest.mark.django_db(transaction=True)]

PAGE = "/webhooks/deliveries/"


@pytest.fixture(autouse=True)
def private_networks():
    with override_settings(WEBHOOK_ALLOW_PRIVATE_NETWORKS=True, WEBHOOK_RETRY_SECONDS=[0]):
        yield


@pytest.fixture
def deliverer_client(client, user):
    user.user_permissions.add(Permission.objects.get(codename="run_delivery_job"))
    client.force_login(user)
    return client


def created() -> None:
    with transaction.atomic():
        access_request_create(
            requestor_name="Ada", requestor_email="ada@example.com", resource_name="VPN", duration="30"
        )


def test_a_dead_delivery_shows_and_retry_now_delivers_it(deliverer_client):
    with Receiver(answer=lambda n: 500 if n <= 2 else 200) as receiver:
        endpoint, _ = endpoint_create(url=receiver.url)
        created()
        assert deliver_events_run(triggered_by="test").dead_count == 1
        delivery = WebhookDelivery.objects.get()
        page = deliverer_client.get(PAGE).content.decode()
        assert receiver.url in page and f"evt_{delivery.event_id}" in page
        assert ">dead<" in page and "Retry now" in page and "HTTP 500" in page
        response = deliverer_client.post(f"/webhooks/deliveries/{delivery.id}/retry/", follow=True)
    assert response.status_code == 200
    assert "Delivered 1 webhook event." in response.content.decode()
    delivery.refresh_from_db()
    assert delivery.status == WebhookDelivery.Status.DELIVERED
    assert len(receiver.received) == 3
    assert response.redirect_chain[-1][0] == f"{PAGE}?endpoint={endpoint.id}"
    history = deliverer_client.get("/jobs/history/?job=deliveries").content.decode()
    assert "Deliver events" in history and "Delivered 1, failed 0" in history


def test_send_test_event_reaches_that_endpoint_only_signed(deliverer_client):
    with Receiver() as chosen, Receiver() as other:
        endpoint, secret = endpoint_create(url=chosen.url)
        endpoint_create(url=other.url)
        response = deliverer_client.post(f"/webhooks/endpoints/{endpoint.id}/test/", follow=True)
    assert response.status_code == 200
    assert len(chosen.received) == 1 and other.received == []
    event = Webhook(secret).verify(chosen.received[0].body, chosen.received[0].headers)
    assert event["type"] == TEST and event["data"]["sentBy"] == "alice"


def test_without_the_permission_the_page_and_its_actions_are_403(user_client):
    endpoint, _ = endpoint_create(url="http://127.0.0.1:9/hook")
    assert user_client.get(PAGE).status_code == 403
    assert user_client.post(f"/webhooks/endpoints/{endpoint.id}/test/").status_code == 403
    assert user_client.post("/webhooks/deliveries/1/retry/").status_code == 403
    assert not WebhookDelivery.objects.exists()
    assert "Deliveries" not in user_client.get("/").content.decode()


def test_unknown_ids_and_methods(deliverer_client):
    assert deliverer_client.post("/webhooks/deliveries/999/retry/").status_code == 404
    assert deliverer_client.post("/webhooks/endpoints/999/test/").status_code == 404
    assert deliverer_client.get("/webhooks/endpoints/999/test/").status_code == 405
    page = deliverer_client.get(PAGE + "?endpoint=abc")
    assert page.status_code == 200 and "No endpoints yet" in page.content.decode()
    assert not DeliverEventsJobRun.objects.exists()


def test_staff_see_the_nav_link(client, django_user_model):
    staff = django_user_model.objects.create_user("sam", "sam@example.com", "pw", is_staff=True)
    client.force_login(staff)
    assert 'href="/webhooks/deliveries/"' in client.get("/").content.decode()
