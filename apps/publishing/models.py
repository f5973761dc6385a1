"""Published messages, as accepted from publishers."""

from django.db import models
from django.utils import timezone

from apps.core.ids import uuid7


class Message(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)
    topic = models.ForeignKey("topology.Topic", on_delete=models.PROTECT, related_name="messages")
    payload = models.JSONField()
    attributes = models.JSONField(default=dict, blank=True)
    key = models.CharField(max_length=200, blank=True)
    published_at = models.DateTimeField()
    deliver_at = models.DateTimeField(null=True, blank=True, help_text="Delayed publish: not delivered before this.")
    expires_at = models.DateTimeField(null=True, blank=True, help_text="TTL: not delivered after this.")

    class Meta:
        ordering = ["-published_at"]
        # The message history (apps.publishing.history) pages by (published_at, id), newest first.
        indexes = [
            models.Index(fields=["topic", "published_at", "id"], name="message_topic_history"),
            models.Index(fields=["published_at", "id"], name="message_history"),
            models.Index(fields=["key", "published_at", "id"], condition=~models.Q(key=""), name="message_key"),
        ]

    def __str__(self) -> str:
        return f"{self.topic_id}:{self.id}"


class IdempotencyState(models.TextChoices):
    IN_FLIGHT = "in_flight"
    COMPLETED = "completed"


class IdempotencyKey(models.Model):
    """A publish request's Idempotency-Key and the response its first use got (Stripe's semantics)."""

    scope = models.CharField(max_length=64, help_text="Whose key: an API key ('api:<id>') or Python callers.")
    key = models.CharField(max_length=255)
    request_hash = models.CharField(max_length=64, help_text="SHA-256 of the request, to refuse reuse with another.")
    state = models.CharField(max_length=16, choices=IdempotencyState.choices, default=IdempotencyState.IN_FLIGHT)
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    response_body = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["scope", "key"], name="one_idempotency_key_per_scope")]
        # The message history finds a message by its Idempotency-Key, whoever used it.
        indexes = [models.Index(fields=["expires_at"]), models.Index(fields=["key"], name="idempotency_key_lookup")]

    def __str__(self) -> str:
        return f"{self.scope}:{self.key} ({self.state})"
