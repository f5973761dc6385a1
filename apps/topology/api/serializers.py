from rest_framework import serializers

from apps.topology.models import Subscription


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
            "filter_policy",
            "max_attempts",
            "batch_size",
            "paused",
            "queue",
            "queue_depth",
        ]

    def get_queue_depth(self, subscription: Subscription) -> int | None:
        return self.context.get("queue_depths", {}).get(subscription.queue)
