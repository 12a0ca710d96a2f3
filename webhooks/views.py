"""The Deliveries page: per endpoint, recent attempts, failing and dead deliveries, "retry
now" and "send test event". Both actions run the delivery job at once (a run already in
progress sends them instead)."""

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.db import transaction
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST, require_safe

from jobs.delivery import deliver_events_run, delivery_retry
from jobs.lock import LockHeld
from jobs.models import DeliverEventsJobRun
from jobs.runner import JobFailed
from jobs.status import live_run
from jobs.views import banner_context
from requests_app.auth import view_all_required
from webhooks.events import test_event_record
from webhooks.models import WebhookDelivery, WebhookEndpoint
from webhooks.selectors import endpoint_deliveries, endpoints_with_counts

PERMISSION = DeliverEventsJobRun.run_permission


def _page(endpoint_id: int | None) -> str:
    url = reverse("webhooks:deliveries")
    return f"{url}?endpoint={endpoint_id}" if endpoint_id else url


def _deliver_now(request) -> None:
    try:
        result = deliver_events_run(triggered_by=request.user.get_username())
    except LockHeld:
        messages.info(request, "A delivery run is in progress: it sends this too.")
    except JobFailed as failed:
        messages.error(request, str(failed))
    else:
        messages.success(request, result.message)


@require_safe
@permission_required(PERMISSION, raise_exception=True)
@view_all_required
def deliveries(request):
    endpoints = list(endpoints_with_counts())
    try:
        chosen = int(request.GET.get("endpoint") or (endpoints[0].id if endpoints else 0))
    except ValueError:
        chosen = 0
    endpoint = next((e for e in endpoints if e.id == chosen), None)
    context = {
        "endpoints": endpoints,
        "endpoint": endpoint,
        **(endpoint_deliveries(endpoint=endpoint) if endpoint else {}),
        **banner_context(DeliverEventsJobRun, holder=live_run(job=DeliverEventsJobRun)),
    }
    return render(request, "webhooks/deliveries.html", context)


@require_POST
@permission_required(PERMISSION, raise_exception=True)
@view_all_required
def retry(request, delivery_id: int):
    delivery = get_object_or_404(WebhookDelivery, id=delivery_id)
    if delivery_retry(delivery_id=delivery.id):
        _deliver_now(request)
    else:
        messages.info(request, "That delivery was already delivered.")
    return redirect(_page(delivery.endpoint_id))


@require_POST
@permission_required(PERMISSION, raise_exception=True)
@view_all_required
def send_test(request, endpoint_id: int):
    endpoint = get_object_or_404(WebhookEndpoint, id=endpoint_id)
    with transaction.atomic():
        test_event_record(endpoint=endpoint, sent_by=request.user.get_username())
    _deliver_now(request)
    return redirect(_page(endpoint.id))
