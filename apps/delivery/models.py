"""Deliveries: one message on its way to one subscription."""

from django.db import models
from django.db.models import Q
from django.utils import timezone


class DeliveryState(models.TextChoices):
    PENDING = "pending"
    RETRYING = "retrying"
    DELIVERED = "delivered"
    DEAD = "dead"
    # Cancelled by an operator before it ran (apps.publishing.cancel); never runs.
    CANCELLED = "cancelled"


OPEN_STATES = [DeliveryState.PENDING, DeliveryState.RETRYING]

# Which state may follow which. A delivery is inserted pending; apps/delivery/ledger.py,
# the only writer of a delivery's state, makes every move and refuses any other (its
# UPDATEs name the states they start from, so a move that lost a race changes nothing).
# Sending (sent_at: to the outbox and back) happens within a state and is not a move.
INITIAL_STATE = DeliveryState.PENDING
TRANSITIONS: dict[DeliveryState, frozenset[DeliveryState]] = {
    DeliveryState.PENDING: frozenset(
        {DeliveryState.DELIVERED, DeliveryState.RETRYING, DeliveryState.DEAD, DeliveryState.CANCELLED}
    ),
    DeliveryState.RETRYING: frozenset(
        {DeliveryState.DELIVERED, DeliveryState.RETRYING, DeliveryState.DEAD, DeliveryState.CANCELLED}
    ),
    DeliveryState.DELIVERED: frozenset(),
    DeliveryState.DEAD: frozenset({DeliveryState.PENDING}),  # replayed from its dead letter
    DeliveryState.CANCELLED: frozenset(),
}


def states_before(state: DeliveryState) -> list[DeliveryState]:
    """Return the states a delivery may be in to move to `state`, in declaration order."""
    return [before for before in DeliveryState if state in TRANSITIONS[before]]


class Delivery(models.Model):
    message = models.ForeignKey("publishing.Message", on_delete=models.CASCADE, related_name="deliveries")
    subscription = models.ForeignKey("topology.Subscription", on_delete=models.CASCADE, related_name="deliveries")
    state = models.CharField(max_length=16, choices=DeliveryState.choices, default=DeliveryState.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # The transactional outbox: null until the delivery reached Redis (its queue, or the
    # delay schedule when `not_before` lies ahead). The relay sends what stays null.
    sent_at = models.DateTimeField(null=True, blank=True)
    not_before = models.DateTimeField(null=True, blank=True, help_text="Delayed publish: not delivered before this.")
    # When the retry of the last failed attempt falls due (null until an attempt fails):
    # the next attempt's latency is measured from it. Kept apart from `not_before`, which
    # says when the delivery (or its replay) was first due.
    retry_at = models.DateTimeField(null=True, blank=True, help_text="When the retry of a failed attempt is due.")
    # The message's TTL, copied so that the expiry sweep (apps.delivery.expiry) finds the
    # open deliveries past it in an index of open, expiring deliveries only.
    expires_at = models.DateTimeField(null=True, blank=True, help_text="TTL: not delivered after this.")
    replayed_from = models.ForeignKey(
        "deadletters.DeadLetter", null=True, blank=True, on_delete=models.SET_NULL, related_name="replays"
    )

    class Meta:
        verbose_name_plural = "deliveries"
        constraints = [
            models.UniqueConstraint(fields=["message", "subscription"], name="one_delivery_per_subscription")
        ]
        indexes = [
            models.Index(fields=["subscription", "state"]),
            # A subscription's rates (apps.topology.statistics) count its recent finishes.
            models.Index(fields=["subscription", "finished_at"]),
            models.Index(fields=["created_at"], condition=Q(sent_at__isnull=True), name="delivery_outbox"),
            models.Index(
                fields=["expires_at"],
                condition=Q(expires_at__isnull=False, state__in=OPEN_STATES),
                name="delivery_open_expiring",
            ),
            # The oldest open delivery of each subscription (switchboard_oldest_message_age_seconds).
            models.Index(
                fields=["subscription", "created_at"],
                condition=Q(state__in=["pending", "retrying"]),
                name="delivery_open_age",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.message_id} -> {self.subscription_id} ({self.state})"


class DeliveryAttempt(models.Model):
    """One try of a delivery: when it ran, how long it took, how it ended (and what a webhook said).

    Several rows may share an attempt number: an attempt that a crash interrupted before
    it was recorded on the delivery runs again under the same number.
    """

    delivery = models.ForeignKey(Delivery, on_delete=models.CASCADE, related_name="attempt_log")
    attempt = models.PositiveIntegerField()
    started_at = models.DateTimeField()
    duration_ms = models.PositiveIntegerField()
    # Null when no HTTP answer came: a network error, a timeout, or a refused address.
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    # success, retryable or permanent: how the try ended (the delivery's state says what followed).
    outcome = models.CharField(max_length=16, blank=True)
    error = models.TextField(blank=True)
    response_body = models.TextField(blank=True, help_text="The first 2 KiB of the answer.")

    class Meta:
        ordering = ["delivery", "attempt", "id"]

    def __str__(self) -> str:
        return f"delivery {self.delivery_id} attempt {self.attempt} ({self.status_code or self.error[:40]})"


class BrokerEpoch(models.Model):
    """The Redis run id the relay last saw: a new one means Redis restarted.

    Redis with AOF `everysec` may lose the last second of writes when it dies, so after a
    restart the relay sends every open delivery again; consumers skip the duplicates.
    """

    run_id = models.CharField(max_length=64)
    seen_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return self.run_id
