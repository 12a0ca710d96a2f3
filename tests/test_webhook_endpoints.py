"""Webhook endpoints: URL and secret checks (SSRF), add_webhook_endpoint, the admin's
write-only secret, and the delivery-time address check."""

import base64
import logging
from io import StringIO

import pytest
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.db import transaction
from django.test import override_settings

from jobs.delivery import deliver_events_run
from requests_app.services import access_request_create
from webhooks.models import CREATED, REVOKED, WebhookDelivery, WebhookEndpoint
from webhooks.security import endpoint_url_validate, secret_generate, secret_validate
from webhooks.services import endpoint_create

from .webhook_receiver import Receiver

pytestmark = pytest.mark.django_db(transaction=True)

SECRET = "whsec_" + base64.b64encode(b"k" * 32).decode()


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/hook",
        "http://localhost/hook",
        "https://10.1.2.3/hook",
        "https://192.168.0.10/hook",
        "http://169.254.169.254/latest/meta-data/",  # cloud metadata: link-local
        "http://[::1]/hook",
        "http://[::ffff:127.0.0.1]/hook",
        "http://0.0.0.0/hook",
    ],
)
@override_settings(WEBHOOK_ALLOW_PRIVATE_NETWORKS=False)
def test_private_loopback_and_link_local_addresses_are_refused(url):
    with pytest.raises(ValidationError, match="WEBHOOK_ALLOW_PRIVATE_NETWORKS|does not resolve"):
        endpoint_url_validate(url)


@pytest.mark.parametrize(
    "url,message",
    [
        ("", "Enter the endpoint"),
        ("ftp://example.com/hook", "http:// or https://"),
        ("file:///etc/passwd", "http:// or https://"),
        ("javascript:alert(1)", "http:// or https://"),
        ("http://", "http:// or https://"),
        ("not a url", "http:// or https://"),
        ("https://user:pw@example.com/hook", "user name or password"),
        ("https://example.com/" + "a" * 2000, "longer than 2000"),
    ],
)
def test_malformed_urls_are_refused_with_a_reason(url, message):
    with pytest.raises(ValidationError, match=message):
        endpoint_url_validate(url)


@override_settings(WEBHOOK_ALLOW_PRIVATE_NETWORKS=True)
def test_private_addresses_are_allowed_when_the_setting_says_so():
    assert endpoint_url_validate(" http://127.0.0.1:9/hook ") == "http://127.0.0.1:9/hook"


@pytest.mark.parametrize(
    "secret,message",
    [
        ("", "whsec_"),
        ("secret123", "whsec_"),
        ("whsec_not base64!", "not valid base64"),
        ("whsec_" + base64.b64encode(b"short").decode(), "24 to 64 bytes"),
        ("whsec_" + base64.b64encode(b"x" * 65).decode(), "24 to 64 bytes"),
    ],
)
def test_bad_secrets_are_refused_without_repeating_them(secret, message):
    with pytest.raises(ValidationError, match=message) as refused:
        secret_validate(secret)
    if secret:
        assert secret not in " ".join(refused.value.messages)


def test_generated_secrets_are_valid_and_distinct():
    first, second = secret_generate(), secret_generate()
    assert secret_validate(first) == first and first != second


def command(*args) -> tuple[int, str, str]:
    out, err = StringIO(), StringIO()
    try:
        call_command("add_webhook_endpoint", *args, stdout=out, stderr=err)
        code = 0
    except SystemExit as exit_:
        code = exit_.code
    return code, out.getvalue(), err.getvalue()


@override_settings(WEBHOOK_ALLOW_PRIVATE_NETWORKS=True)
def test_command_adds_an_endpoint_for_every_type_and_prints_a_generated_secret_once(caplog):
    caplog.set_level(logging.DEBUG)
    code, out, _ = command("--url", "http://127.0.0.1:9/hook")
    assert code == 0
    endpoint = WebhookEndpoint.objects.get()
    assert endpoint.event_types == "" and endpoint.wants(REVOKED) and endpoint.active
    assert f"Secret (shown once, store it now): {endpoint.secret}" in out
    assert endpoint.secret not in caplog.text


@override_settings(WEBHOOK_ALLOW_PRIVATE_NETWORKS=True)
def test_command_with_a_secret_and_events_never_prints_the_secret():
    code, out, _ = command("--url", "http://127.0.0.1:9/hook", "--secret", SECRET, "--event", REVOKED)
    assert code == 0
    endpoint = WebhookEndpoint.objects.get()
    assert endpoint.secret == SECRET and SECRET not in out
    assert endpoint.event_type_list == [REVOKED] and not endpoint.wants(CREATED)


@override_settings(WEBHOOK_ALLOW_PRIVATE_NETWORKS=False)
@pytest.mark.parametrize(
    "args",
    [
        ["--url", "http://127.0.0.1/hook"],
        ["--url", "gopher://example.com/"],
        ["--url", "https://example.com/hook", "--secret", "hunter2"],
    ],
)
def test_command_refuses_bad_input_and_adds_nothing(args):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError) as refused:
        command(*args)
    assert refused.value.returncode == 2
    assert "hunter2" not in str(refused.value)
    assert not WebhookEndpoint.objects.exists()


def test_command_refuses_an_unknown_event_type():
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="invalid choice"):
        command("--url", "https://example.com/hook", "--event", "access_request.deleted")
    assert not WebhookEndpoint.objects.exists()


@pytest.fixture
def admin_client(client):
    client.force_login(User.objects.create_superuser("root", "root@example.com", "pw"))
    return client


@override_settings(WEBHOOK_ALLOW_PRIVATE_NETWORKS=True)
def test_admin_shows_a_generated_secret_once_and_never_again(admin_client):
    response = admin_client.post(
        "/admin/webhooks/webhookendpoint/add/",
        {"url": "http://127.0.0.1:9/hook", "types": [REVOKED], "active": "on", "new_secret": ""},
    )
    assert response.status_code == 200, response.content[:2000]
    endpoint = WebhookEndpoint.objects.get()
    assert endpoint.secret.startswith("whsec_")
    assert endpoint.secret in response.content.decode()
    assert "no-store" in response["Cache-Control"]
    assert endpoint.event_type_list == [REVOKED]
    for url in (
        "/admin/webhooks/webhookendpoint/",
        f"/admin/webhooks/webhookendpoint/{endpoint.id}/change/",
        "/webhooks/deliveries/",
    ):
        page = admin_client.get(url)
        assert page.status_code == 200
        assert endpoint.secret not in page.content.decode(), url
    # editing without "replace" keeps the secret and shows nothing
    edited = admin_client.post(
        f"/admin/webhooks/webhookendpoint/{endpoint.id}/change/",
        {"url": "http://127.0.0.1:9/other", "types": [], "active": "on", "new_secret": ""},
    )
    assert edited.status_code == 302
    kept = WebhookEndpoint.objects.get()
    assert (kept.secret, kept.url, kept.event_types) == (endpoint.secret, "http://127.0.0.1:9/other", "")


@override_settings(WEBHOOK_ALLOW_PRIVATE_NETWORKS=False)
def test_admin_refuses_a_private_url_and_a_bad_secret_and_saves_nothing(admin_client):
    response = admin_client.post(
        "/admin/webhooks/webhookendpoint/add/",
        {"url": "http://10.0.0.5/hook", "active": "on", "new_secret": "hunter2"},
    )
    assert response.status_code == 200
    text = response.content.decode()
    assert "WEBHOOK_ALLOW_PRIVATE_NETWORKS" in text and "The secret must look like" in text
    assert "hunter2" not in text
    assert not WebhookEndpoint.objects.exists()


def test_delivery_checks_the_address_again_and_refuses_a_private_one():
    with Receiver() as receiver:
        with override_settings(WEBHOOK_ALLOW_PRIVATE_NETWORKS=True):
            endpoint_create(url=receiver.url)
        with transaction.atomic():
            access_request_create(
                requestor_name="Ada", requestor_email="ada@example.com", resource_name="VPN", duration="30"
            )
        with override_settings(WEBHOOK_ALLOW_PRIVATE_NETWORKS=False, WEBHOOK_RETRY_SECONDS=[3600]):
            result = deliver_events_run(triggered_by="test")
    assert (result.delivered_count, result.failed_count) == (0, 1)
    assert receiver.received == []
    assert "Refused" in WebhookDelivery.objects.get().last_error


@override_settings(WEBHOOK_ALLOW_PRIVATE_NETWORKS=True, WEBHOOK_RETRY_SECONDS=[3600])
def test_redirects_are_not_followed_and_count_as_failures():
    with Receiver(answer=lambda n: 302) as receiver:
        endpoint_create(url=receiver.url)
        with transaction.atomic():
            access_request_create(
                requestor_name="Ada", requestor_email="ada@example.com", resource_name="VPN", duration="30"
            )
        result = deliver_events_run(triggered_by="test")
    assert (result.delivered_count, result.failed_count) == (0, 1)
    assert len(receiver.received) == 1
    assert WebhookDelivery.objects.get().last_status_code == 302


@override_settings(WEBHOOK_ALLOW_PRIVATE_NETWORKS=True, WEBHOOK_RESPONSE_MAX_BYTES=100)
def test_a_huge_response_is_read_only_up_to_the_limit():
    with Receiver(body=b"x" * 5_000_000) as receiver:
        endpoint_create(url=receiver.url)
        with transaction.atomic():
            access_request_create(
                requestor_name="Ada", requestor_email="ada@example.com", resource_name="VPN", duration="30"
            )
        assert deliver_events_run(triggered_by="test").delivered_count == 1
    from webhooks.models import WebhookAttempt

    assert WebhookAttempt.objects.get().response_body == "x" * 100
