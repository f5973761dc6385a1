"""Shapes of the publishing API's requests and responses."""

from datetime import timedelta
from typing import Any

from rest_framework import serializers

from apps.core.api.serializers import StrictCharField, StrictFloatField, StrictSerializer
from apps.core.errors import error_summary
from apps.delivery.models import Delivery, DeliveryAttempt
from apps.publishing.services import MAX_BATCH_MESSAGES, MAX_DELAY_SECONDS, MAX_TTL_SECONDS


class StrictDateTimeField(serializers.DateTimeField):
    """A date-time field that refuses a value whose time zone moves it out of the representable years."""

    def to_internal_value(self, value: Any) -> Any:
        try:
            return super().to_internal_value(value)
        except OverflowError:
            self.fail("invalid", format="an ISO 8601 date-time between the years 1 and 9999")


class StringMapField(serializers.DictField):
    child = StrictCharField(allow_blank=True, trim_whitespace=False)


class PublishRequestSerializer(StrictSerializer):
    payload = serializers.JSONField()
    attributes = StringMapField(required=False, default=dict)
    key = StrictCharField(required=False, allow_blank=True, max_length=200, trim_whitespace=False)
    delay_seconds = StrictFloatField(
        required=False,
        min_value=0,
        max_value=MAX_DELAY_SECONDS,
        help_text="Deliver no sooner than this many seconds from now.",
    )
    deliver_at = StrictDateTimeField(required=False, help_text="Deliver no sooner than this time.")
    ttl_seconds = StrictFloatField(
        required=False,
        min_value=0.001,
        max_value=MAX_TTL_SECONDS,
        help_text="Dead-letter (reason expired) if not delivered in time.",
    )


class PublishBatchRequestSerializer(serializers.Serializer):
    messages = serializers.ListField(child=serializers.JSONField(), min_length=1, max_length=MAX_BATCH_MESSAGES)


class PublishBatchResultSerializer(serializers.Serializer):
    id = serializers.UUIDField(required=False)
    published_at = serializers.DateTimeField(required=False)
    error = serializers.DictField(required=False, help_text="Problem details (RFC 9457) of this item.")


class PublishBatchResponseSerializer(serializers.Serializer):
    results = PublishBatchResultSerializer(many=True)
    accepted = serializers.IntegerField()
    failed = serializers.IntegerField()


class PublishResponseSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    topic = serializers.CharField()
    published_at = serializers.DateTimeField()


class AttemptSerializer(serializers.Serializer):
    attempt = serializers.IntegerField()
    started_at = serializers.DateTimeField()
    ended_at = serializers.SerializerMethodField()
    duration_ms = serializers.IntegerField()
    outcome = serializers.CharField(help_text="success, retryable or permanent.")
    status_code = serializers.IntegerField(allow_null=True, help_text="A webhook's HTTP status (null: no answer).")
    error = serializers.SerializerMethodField()

    def get_ended_at(self, attempt: DeliveryAttempt) -> str:
        ended_at = attempt.started_at + timedelta(milliseconds=attempt.duration_ms)
        return str(serializers.DateTimeField().to_representation(ended_at))

    def get_error(self, attempt: DeliveryAttempt) -> str | None:
        return error_summary(attempt.error)


class DeliverySummarySerializer(serializers.Serializer):
    subscription = serializers.CharField(source="subscription.name")
    state = serializers.CharField()
    attempts = serializers.IntegerField()


class DeliveryStatusSerializer(DeliverySummarySerializer):
    last_error = serializers.SerializerMethodField()
    created_at = serializers.DateTimeField(help_text="When it was routed (the message's publish).")
    sent_at = serializers.DateTimeField(allow_null=True, help_text="When it reached Redis (null: in the outbox).")
    due_at = serializers.DateTimeField(source="not_before", allow_null=True, help_text="Not delivered before this.")
    finished_at = serializers.DateTimeField(allow_null=True, help_text="When it was delivered or dead-lettered.")
    attempt_log = AttemptSerializer(many=True, help_text="Every attempt, oldest first.")

    def get_last_error(self, delivery: Delivery) -> str | None:
        # The last line of the traceback says what went wrong; the admin shows the rest.
        return error_summary(delivery.last_error)


class MessageStatusSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    topic = serializers.CharField(source="topic.name")
    payload = serializers.JSONField()
    attributes = serializers.DictField(child=serializers.CharField())
    key = serializers.CharField()
    published_at = serializers.DateTimeField()
    deliver_at = serializers.DateTimeField(allow_null=True)
    expires_at = serializers.DateTimeField(allow_null=True)
    deliveries = DeliveryStatusSerializer(many=True)


class CancelOutcomeSerializer(serializers.Serializer):
    subscription = serializers.CharField()
    outcome = serializers.ChoiceField(
        choices=["cancelled", "running", "finished"],
        help_text="cancelled by this request; running (an attempt holds it and may still deliver it); "
        "finished before (delivered, dead or cancelled already).",
    )
    state = serializers.CharField(help_text="The delivery's state after the request.")


class MessageCancelResponseSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    cancelled = serializers.IntegerField(help_text="How many deliveries this request cancelled.")
    deliveries = CancelOutcomeSerializer(many=True)


class MessageSummarySerializer(serializers.Serializer):
    id = serializers.UUIDField()
    topic = serializers.CharField(source="topic.name")
    attributes = serializers.DictField(child=serializers.CharField())
    key = serializers.CharField()
    published_at = serializers.DateTimeField()
    deliver_at = serializers.DateTimeField(allow_null=True)
    expires_at = serializers.DateTimeField(allow_null=True)
    deliveries = DeliverySummarySerializer(many=True)


class MessagePageSerializer(serializers.Serializer):
    results = MessageSummarySerializer(many=True)
    next_cursor = serializers.CharField(allow_null=True, help_text="Pass as `cursor` for the next page; null: last.")
    next = serializers.CharField(allow_null=True, help_text="The next page's URL; null: this is the last.")
