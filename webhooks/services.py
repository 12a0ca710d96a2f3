"""Writes on webhook endpoints."""

from __future__ import annotations

import logging

from django.core.exceptions import ValidationError
from django.db.models.expressions import RawSQL

from jobs.dialects import dialect_for
from webhooks.models import EVENT_TYPES, WebhookEndpoint, event_types_text
from webhooks.security import endpoint_url_validate, secret_generate, secret_validate

logger = logging.getLogger("webhooks.services")


def endpoint_create(
    *, url: str, secret: str | None = None, event_types=(), active: bool = True
) -> tuple[WebhookEndpoint, str]:
    """Add an endpoint; (endpoint, its secret). No secret: one is generated. No event types:
    every type. Raises ValidationError (nothing is saved); its messages never contain the secret."""
    url = endpoint_url_validate(url)
    secret = secret_generate() if secret is None else secret_validate(secret)
    unknown = sorted(set(event_types) - set(EVENT_TYPES))
    if unknown:
        raise ValidationError(f"Unknown event type(s): {', '.join(unknown)}.")
    endpoint = WebhookEndpoint.objects.create(
        url=url,
        secret=secret,
        event_types=event_types_text(event_types),
        active=active,
        created_at=RawSQL(dialect_for().now, []),
    )
    logger.info(
        "webhook endpoint added id=%s url=%s types=%s", endpoint.id, url, endpoint.event_types or "all"
    )
    return endpoint, secret
