"""Reads behind the Deliveries page."""

from __future__ import annotations

from django.db.models import Count, Q, QuerySet

from webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint

LIST_ROWS = 50


def endpoints_with_counts() -> QuerySet:
    """Every endpoint with its delivered / pending / failing / dead counts."""
    status = WebhookDelivery.Status
    return WebhookEndpoint.objects.annotate(
        delivered=Count("deliveries", filter=Q(deliveries__status=status.DELIVERED)),
        pending=Count("deliveries", filter=Q(deliveries__status=status.PENDING, deliveries__attempts=0)),
        failing=Count("deliveries", filter=Q(deliveries__status=status.PENDING, deliveries__attempts__gt=0)),
        dead=Count("deliveries", filter=Q(deliveries__status=status.DEAD)),
    ).order_by("id")


def endpoint_deliveries(*, endpoint: WebhookEndpoint) -> dict:
    """The endpoint's recent attempts, failing and dead deliveries (LIST_ROWS each, newest first)."""
    deliveries = WebhookDelivery.objects.filter(endpoint=endpoint).select_related("event")
    return {
        "attempts": list(
            WebhookAttempt.objects.filter(delivery__endpoint=endpoint)
            .select_related("delivery__event")
            .order_by("-id")[:LIST_ROWS]
        ),
        "failing": list(
            deliveries.filter(status=WebhookDelivery.Status.PENDING, attempts__gt=0).order_by("-id")[
                :LIST_ROWS
            ]
        ),
        "dead": list(deliveries.filter(status=WebhookDelivery.Status.DEAD).order_by("-id")[:LIST_ROWS]),
    }
