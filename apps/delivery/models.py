"""Deliveries: one message on its way to one subscription."""

from django.db import models


class DeliveryState(models.TextChoices):
    PENDING = "pending"
    RETRYING = "retrying"
    DELIVERED = "delivered"
    DEAD = "dead"


OPEN_STATES = [DeliveryState.PENDING, DeliveryState.RETRYING]


class Delivery(models.Model):
    message = models.ForeignKey("publishing.Message", on_delete=models.CASCADE, related_name="deliveries")
    subscription = models.ForeignKey("topology.Subscription", on_delete=models.CASCADE, related_name="deliveries")
    state = models.CharField(max_length=16, choices=DeliveryState.choices, default=DeliveryState.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    updated_at = models.DateTimeField(auto_now=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name_plural = "deliveries"
        constraints = [
            models.UniqueConstraint(fields=["message", "subscription"], name="one_delivery_per_subscription")
        ]
        indexes = [models.Index(fields=["subscription", "state"])]

    def __str__(self) -> str:
        return f"{self.message_id} -> {self.subscription_id} ({self.state})"


class DeliveryAttempt(models.Model):
    """One try of a webhook delivery: when it ran, how long it took, what the endpoint said.

    Several rows may share an attempt number: an attempt that a crash interrupted before
    it was recorded on the delivery runs again under the same number.
    """

    delivery = models.ForeignKey(Delivery, on_delete=models.CASCADE, related_name="attempt_log")
    attempt = models.PositiveIntegerField()
    started_at = models.DateTimeField()
    duration_ms = models.PositiveIntegerField()
    # Null when no HTTP answer came: a network error, a timeout, or a refused address.
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    error = models.TextField(blank=True)
    response_body = models.TextField(blank=True, help_text="The first 2 KiB of the answer.")

    class Meta:
        ordering = ["delivery", "attempt", "id"]

    def __str__(self) -> str:
        return f"delivery {self.delivery_id} attempt {self.attempt} ({self.status_code or self.error[:40]})"
