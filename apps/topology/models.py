"""Topics and the subscriptions that route their messages to consumers."""

from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models

from apps.core import redis_keys

NAME_PATTERN = r"^[a-z0-9][a-z0-9._-]{0,99}$"
name_validator = RegexValidator(NAME_PATTERN, "Use lower-case letters, digits, '.', '_' and '-' (at most 100).")


class UnroutablePolicy(models.TextChoices):
    DROP = "drop", "Drop (count only)"
    DEAD_LETTER = "dead_letter", "Keep as a dead letter"


class NamedModel(models.Model):
    """A topic or a subscription: known by a unique name, in name order, and timestamped."""

    name = models.CharField(max_length=100, unique=True, validators=[name_validator])
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Topic(NamedModel):
    description = models.TextField(blank=True)
    unroutable = models.CharField(
        max_length=16,
        choices=UnroutablePolicy.choices,
        default=UnroutablePolicy.DROP,
        help_text="What happens to a message that no subscription's filter policy matches.",
    )
    retention_days = models.PositiveIntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(1)],
        help_text="Days a finished message is kept (empty: SWITCHBOARD_RETENTION_DAYS).",
    )


class ConsumerKind(models.TextChoices):
    PYTHON = "python", "Python handler"
    WEBHOOK = "webhook", "HTTP webhook"


class Subscription(NamedModel):
    topic = models.ForeignKey(Topic, on_delete=models.PROTECT, related_name="subscriptions")
    consumer_kind = models.CharField(max_length=16, choices=ConsumerKind.choices, default=ConsumerKind.PYTHON)
    handler = models.CharField(
        max_length=200, blank=True, help_text="Name a Python consumer registered with @consumer."
    )
    webhook_url = models.URLField(max_length=2000, blank=True)
    # Standard Webhooks signing secrets ("whsec_<base64>"); every active one signs each
    # request, so a receiver can rotate without missing a message.
    webhook_secrets = models.JSONField(default=list, blank=True)
    webhook_secrets_env = models.CharField(
        max_length=100,
        blank=True,
        help_text="The environment variable topology.yaml reads the signing secrets from (the export names it).",
    )
    filter_policy = models.JSONField(default=dict, blank=True)
    max_attempts = models.PositiveIntegerField(default=5, validators=[MinValueValidator(1), MaxValueValidator(100)])
    retry_initial_delay = models.FloatField(default=1.0, help_text="Seconds before the first retry.")
    retry_multiplier = models.FloatField(default=2.0)
    retry_max_delay = models.FloatField(default=300.0, help_text="Longest wait between attempts, in seconds.")
    retry_jitter = models.FloatField(default=0.2, help_text="Random spread of each wait, as a fraction of it.")
    batch_size = models.PositiveIntegerField(default=1, validators=[MinValueValidator(1), MaxValueValidator(1000)])
    paused = models.BooleanField(default=False)

    @property
    def queue(self) -> str:
        """Name the Celery queue this subscription's deliveries travel on."""
        return redis_keys.subscription_queue(self.name)
