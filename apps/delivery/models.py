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
