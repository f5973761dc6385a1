"""Dead letters: deliveries that will not be retried, kept for people to inspect and replay."""

from django.db import models


class DeadLetterReason(models.TextChoices):
    EXHAUSTED = "exhausted", "Retries exhausted"
    PERMANENT = "permanent", "Permanent error"
    EXPIRED = "expired", "TTL expired"
    UNROUTABLE = "unroutable", "No subscription matched"
    WORKER_LOST = "worker_lost", "Worker died on every attempt"
    NO_HANDLER = "no_handler", "No handler registered"


class DeadLetter(models.Model):
    message = models.ForeignKey("publishing.Message", on_delete=models.CASCADE, related_name="dead_letters")
    # Null for unroutable messages, which never reached a subscription.
    # A delivery may die again after a replay: each death is a dead letter of its own.
    delivery = models.ForeignKey(
        "delivery.Delivery", null=True, blank=True, on_delete=models.CASCADE, related_name="dead_letters"
    )
    subscription = models.ForeignKey(
        "topology.Subscription", null=True, blank=True, on_delete=models.CASCADE, related_name="dead_letters"
    )
    topic = models.CharField(max_length=100)
    reason = models.CharField(max_length=16, choices=DeadLetterReason.choices)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True, help_text="The last error with its traceback.")
    # As published, so the dead letter stays readable whatever happens to the message later.
    payload = models.JSONField()
    attributes = models.JSONField(default=dict)
    created_at = models.DateTimeField(auto_now_add=True)
    replayed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["subscription", "reason", "created_at"]),
            models.Index(fields=["created_at"], name="dead_letter_age"),  # retention
        ]

    def __str__(self) -> str:
        return f"{self.topic} {self.message_id} ({self.reason})"
