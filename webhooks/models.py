"""The webhook outbox: events (written in the transaction of the change they announce), the
endpoints that receive them, one delivery per event × endpoint, and each attempt. How it
works: docs/webhooks.md."""

from django.db import models
from django.db.models import Q

# The event types an endpoint can ask for (docs/webhooks.md shows each body).
CREATED = "access_request.created"
EXTENDED = "access_request.extended"
REVOKED = "access_request.revoked"
EXPIRING = "access_request.expiring"
TEST = "webhook.test"  # "send test event" on the Deliveries page; only to the endpoint it was sent to
EVENT_TYPES = (CREATED, EXTENDED, REVOKED, EXPIRING)


def event_types_text(types) -> str:
    """How an endpoint stores the types it wants: ",a,b," ("" = every type)."""
    types = sorted(set(types))
    return f",{','.join(types)}," if types else ""


class WebhookEndpoint(models.Model):
    id = models.AutoField(primary_key=True, db_column="Id")
    url = models.CharField(max_length=2000, db_column="Url")
    # ",access_request.revoked,access_request.created," or "" for every type (event_types_text)
    event_types = models.CharField(max_length=500, blank=True, default="", db_column="Event_Types")
    # whsec_<base64>: needed in clear text to sign; never shown after it was first displayed
    secret = models.CharField(max_length=200, db_column="Secret")
    active = models.BooleanField(default=True, db_column="Active")
    created_at = models.DateTimeField(db_column="Created_At")

    class Meta:
        db_table = "WebhookEndpoint"

    def __str__(self) -> str:
        return self.url

    @property
    def event_type_list(self) -> list[str]:
        return [t for t in self.event_types.split(",") if t]

    def wants(self, event_type: str) -> bool:
        return not self.event_types or f",{event_type}," in self.event_types


class WebhookEvent(models.Model):
    """One thing that happened. Data is the event's `data` object; NULL for the revoke job's
    events, whose data is read from their RevokedAccess row (immutable) when sent."""

    id = models.BigAutoField(primary_key=True, db_column="Id")
    type = models.CharField(max_length=64, db_column="Type")
    request_id = models.CharField(max_length=50, null=True, blank=True, db_column="Request_Id")
    job_id = models.CharField(max_length=36, null=True, blank=True, db_column="Job_Id")
    data = models.JSONField(null=True, blank=True, db_column="Data")
    created_at = models.DateTimeField(db_column="Created_At")
    # Set when the delivery job made this event's delivery rows (one per endpoint that wants it)
    dispatched_at = models.DateTimeField(null=True, blank=True, db_column="Dispatched_At")

    class Meta:
        db_table = "WebhookEvent"
        indexes = [
            # the events still to fan out, and nothing else: small however long the table grows
            models.Index(fields=["id"], condition=Q(dispatched_at__isnull=True), name="whe_undispatched_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.type} {self.request_id or ''} (evt_{self.id})"

    @property
    def webhook_id(self) -> str:
        """The webhook-id header: the same for every endpoint and every attempt."""
        return f"evt_{self.id}"


class WebhookDelivery(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending"  # due at Next_Attempt_At (failing once Attempts > 0)
        DELIVERED = "delivered"  # a 2xx was recorded: never sent again
        DEAD = "dead"  # every retry failed; "retry now" on the Deliveries page revives it

    id = models.BigAutoField(primary_key=True, db_column="Id")
    event = models.ForeignKey(WebhookEvent, on_delete=models.CASCADE, db_column="Event_Id")
    endpoint = models.ForeignKey(
        WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries", db_column="Endpoint_Id"
    )
    request_id = models.CharField(max_length=50, null=True, blank=True, db_column="Request_Id")  # the event's
    status = models.CharField(
        max_length=20, choices=Status.choices, default=Status.PENDING, db_column="Status"
    )
    attempts = models.IntegerField(default=0, db_column="Attempts")
    next_attempt_at = models.DateTimeField(db_column="Next_Attempt_At")
    last_status_code = models.IntegerField(null=True, blank=True, db_column="Last_Status_Code")
    last_error = models.CharField(max_length=1000, blank=True, default="", db_column="Last_Error")
    delivered_at = models.DateTimeField(null=True, blank=True, db_column="Delivered_At")

    class Meta:
        db_table = "WebhookDelivery"
        verbose_name_plural = "webhook deliveries"
        constraints = [
            models.UniqueConstraint(fields=["event", "endpoint"], name="webhookdelivery_event_endpoint_uniq")
        ]
        indexes = [
            models.Index(fields=["status", "next_attempt_at"], name="whd_due_idx"),
            models.Index(fields=["endpoint", "request_id", "status"], name="whd_order_idx"),
        ]

    def __str__(self) -> str:
        return f"evt_{self.event_id} → endpoint {self.endpoint_id} ({self.status})"


class WebhookAttempt(models.Model):
    id = models.BigAutoField(primary_key=True, db_column="Id")
    delivery = models.ForeignKey(
        WebhookDelivery, on_delete=models.CASCADE, related_name="attempt_log", db_column="Delivery_Id"
    )
    attempted_at = models.DateTimeField(db_column="Attempted_At")
    status_code = models.IntegerField(null=True, blank=True, db_column="Status_Code")
    duration_ms = models.IntegerField(db_column="Duration_Ms")
    response_body = models.CharField(max_length=1000, blank=True, default="", db_column="Response_Body")
    error = models.CharField(max_length=1000, blank=True, default="", db_column="Error")
    job_id = models.CharField(max_length=36, db_column="Job_Id")

    class Meta:
        db_table = "WebhookAttempt"
        indexes = [models.Index(fields=["delivery", "-id"], name="wha_delivery_idx")]

    def __str__(self) -> str:
        return f"attempt {self.id} of delivery {self.delivery_id}: {self.status_code or self.error[:40]}"

    @property
    def succeeded(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300
