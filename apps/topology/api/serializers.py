"""Shapes of the topology API: topics and subscriptions as read and as written, and statistics.

Write serializers only parse types; what a value may be is the validator's to say
(apps.topology.validation, through apps.topology.changes), as for the file and the admin.
"""

from rest_framework import serializers

from apps.core.api.serializers import StrictCharField, StrictFloatField, StrictIntegerField, StrictSerializer
from apps.topology.models import ConsumerKind, Subscription, Topic, UnroutablePolicy


class TopicSerializer(serializers.ModelSerializer):
    subscriptions = serializers.SerializerMethodField()

    class Meta:
        model = Topic
        fields = ["name", "description", "unroutable", "retention_days", "subscriptions", "created_at", "updated_at"]

    def get_subscriptions(self, topic: Topic) -> list[str]:
        return [s.name for s in topic.subscriptions.all()]


class TopicWriteSerializer(StrictSerializer):
    name = StrictCharField(max_length=100)
    description = StrictCharField(required=False, allow_blank=True)
    unroutable = serializers.ChoiceField(choices=UnroutablePolicy.values, required=False)
    retention_days = StrictIntegerField(
        required=False, allow_null=True, help_text="Days a finished message is kept; null: the default."
    )


class TopicUpdateSerializer(TopicWriteSerializer):
    name = None  # type: ignore[assignment]  # a topic is known by its name, which stays


class SubscriptionSerializer(serializers.ModelSerializer):
    topic = serializers.CharField(source="topic.name")
    queue = serializers.CharField()
    queue_depth = serializers.SerializerMethodField()

    class Meta:
        model = Subscription
        fields = [
            "name",
            "topic",
            "consumer_kind",
            "handler",
            "webhook_url",
            "webhook_secrets_env",
            "filter_policy",
            "max_attempts",
            "retry_initial_delay",
            "retry_multiplier",
            "retry_max_delay",
            "retry_jitter",
            "batch_size",
            "paused",
            "queue",
            "queue_depth",
            "created_at",
            "updated_at",
        ]

    def get_queue_depth(self, subscription: Subscription) -> int | None:
        return self.context.get("queue_depths", {}).get(subscription.queue)


class SubscriptionWriteSerializer(StrictSerializer):
    name = StrictCharField(max_length=100)
    topic = StrictCharField(max_length=100)
    consumer_kind = serializers.ChoiceField(choices=ConsumerKind.values, required=False)
    handler = StrictCharField(
        required=False, allow_blank=True, max_length=200, help_text="Default: the subscription's name."
    )
    webhook_url = StrictCharField(required=False, allow_blank=True, max_length=2000)
    webhook_secrets = serializers.ListField(
        child=StrictCharField(), required=False, write_only=True, help_text="Signing secrets (whsec_...)."
    )
    webhook_secrets_env = StrictCharField(required=False, allow_blank=True, max_length=100)
    filter_policy = serializers.JSONField(required=False)
    max_attempts = StrictIntegerField(required=False)
    retry_initial_delay = StrictFloatField(required=False)
    retry_multiplier = StrictFloatField(required=False)
    retry_max_delay = StrictFloatField(required=False)
    retry_jitter = StrictFloatField(required=False)
    batch_size = StrictIntegerField(required=False)
    paused = serializers.BooleanField(required=False)


class SubscriptionUpdateSerializer(SubscriptionWriteSerializer):
    name = None  # type: ignore[assignment]  # a subscription is known by its name, which stays
    topic = StrictCharField(max_length=100, required=False)


class SubscriptionStatisticsSerializer(serializers.Serializer):
    subscription = serializers.CharField()
    paused = serializers.BooleanField()
    deliveries = serializers.DictField(child=serializers.IntegerField(), help_text="Deliveries by state.")
    outbox = serializers.IntegerField(help_text="Open deliveries not sent to Redis yet.")
    delayed = serializers.IntegerField(help_text="Open deliveries waiting for a later time.")
    queued = serializers.IntegerField(allow_null=True, help_text="Task messages in the queue (null: Redis down).")
    oldest_open_age_seconds = serializers.FloatField(allow_null=True)
    rates_per_minute = serializers.DictField(child=serializers.FloatField())
    consumers = serializers.IntegerField(
        allow_null=True, help_text="Workers consuming the queue (null: none answered)."
    )
