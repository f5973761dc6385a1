"""Alert rules and their state and history; the samples the dashboard charts.

Rules and notifiers are copied from `config/alerts.yaml` by `sync_alerts` (all or
nothing), so beat evaluates the last valid file and a bad edit changes nothing.
"""

from django.db import models

from apps.monitoring.alert_state import AlertStatus

# The `subscription` of a sample that sums every subscription.
ALL_SUBSCRIPTIONS = "*"


class AlertNotifier(models.Model):
    name = models.CharField(max_length=100, unique=True)
    kind = models.CharField(max_length=16)
    spec = models.JSONField(help_text="The notifier as declared (secrets stay in the environment).")

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.kind})"


class AlertRule(models.Model):
    name = models.CharField(max_length=100, unique=True)
    kind = models.CharField(max_length=32)
    severity = models.CharField(max_length=16)
    spec = models.JSONField(help_text="The rule as validated (apps.monitoring.alert_rules.RuleSpec).")
    position = models.PositiveIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["position", "name"]

    def __str__(self) -> str:
        return self.name


class AlertIncident(models.Model):
    """One firing of a rule on a subscription: when it fired and resolved, and the values then."""

    rule = models.CharField(max_length=100)
    subscription = models.CharField(max_length=100)
    severity = models.CharField(max_length=16)
    fired_at = models.DateTimeField()
    fired_value = models.FloatField()
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_value = models.FloatField(null=True, blank=True)
    notifications = models.PositiveIntegerField(default=0, help_text="Fired, reminders and resolved, as sent.")

    class Meta:
        ordering = ["-fired_at"]
        indexes = [models.Index(fields=["rule", "subscription", "fired_at"])]

    def __str__(self) -> str:
        return f"{self.rule} on {self.subscription} at {self.fired_at:%Y-%m-%d %H:%M:%S}"


class Alert(models.Model):
    """The current state of one rule on one subscription (apps.monitoring.alert_state)."""

    rule = models.ForeignKey(AlertRule, on_delete=models.CASCADE, related_name="alerts")
    subscription = models.CharField(max_length=100)
    status = models.CharField(max_length=16, choices=[(s.value, s.value) for s in AlertStatus], default="ok")
    since = models.DateTimeField(null=True, blank=True)
    notified_at = models.DateTimeField(null=True, blank=True)
    value = models.FloatField(null=True, blank=True)
    evaluated_at = models.DateTimeField(null=True, blank=True)
    incident = models.ForeignKey(AlertIncident, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        ordering = ["rule", "subscription"]
        constraints = [models.UniqueConstraint(fields=["rule", "subscription"], name="one_alert_per_rule_subscription")]

    def __str__(self) -> str:
        return f"{self.rule_id}/{self.subscription}: {self.status}"


class SubscriptionSample(models.Model):
    """One subscription's figures at one moment (`*`: every subscription summed); counters are totals.

    `published` counts the messages published to the subscription's topic (in `*`, to
    every topic).
    """

    taken_at = models.DateTimeField()
    subscription = models.CharField(max_length=100)
    ready = models.PositiveIntegerField(default=0)
    scheduled = models.PositiveIntegerField(default=0)
    in_flight = models.PositiveIntegerField(default=0)
    outbox = models.PositiveIntegerField(default=0)
    oldest_age = models.FloatField(default=0)
    dead_letters = models.PositiveIntegerField(default=0)
    consumers = models.PositiveIntegerField(default=0)
    paused = models.BooleanField(default=False)
    published = models.PositiveBigIntegerField(default=0)
    delivered = models.PositiveBigIntegerField(default=0)
    retried = models.PositiveBigIntegerField(default=0)
    dead = models.PositiveBigIntegerField(default=0)
    # Delivery latency (seconds) of the deliveries that started since the previous sample.
    latency_p50 = models.FloatField(null=True, blank=True)
    latency_p99 = models.FloatField(null=True, blank=True)
    # The latency histogram's cumulative counts per bucket, to take the next sample's difference.
    latency_buckets = models.JSONField(default=list)

    class Meta:
        ordering = ["subscription", "taken_at"]
        indexes = [
            models.Index(fields=["subscription", "taken_at"]),
            models.Index(fields=["taken_at"]),
        ]

    def __str__(self) -> str:
        return f"{self.subscription} at {self.taken_at:%H:%M:%S}"
