"""Shapes of the dead-letter API's requests and responses."""

from typing import Any

from rest_framework import serializers

from apps.core.api.serializers import StrictFloatField, StrictIntegerField, StrictSerializer
from apps.core.errors import error_summary
from apps.deadletters.filters import FILTER_NAMES
from apps.deadletters.models import DeadLetter
from apps.deadletters.services import DEFAULT_REPLAY_RATE_PER_SECOND, MAX_REPLAY_RATE_PER_SECOND

# A selection by id names at most this many dead letters; more go by filter.
MAX_IDS = 10_000


class DeadLetterSummarySerializer(serializers.ModelSerializer):
    """A dead letter in a list: no payload, and only the last line of its error."""

    message_id = serializers.UUIDField()
    subscription = serializers.CharField(source="subscription.name", allow_null=True)
    last_error = serializers.SerializerMethodField(help_text="The error's last line (the detail has the traceback).")

    class Meta:
        model = DeadLetter
        fields = [
            "id",
            "message_id",
            "topic",
            "subscription",
            "reason",
            "attempts",
            "last_error",
            "created_at",
            "replayed_at",
        ]

    def get_last_error(self, dead_letter: DeadLetter) -> str | None:
        return error_summary(dead_letter.last_error)


class DeadLetterPageSerializer(serializers.Serializer):
    count = serializers.IntegerField()
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    results = DeadLetterSummarySerializer(many=True)


class ReplaySerializer(serializers.Serializer):
    """A delivery replayed from the dead letter, as it stands now."""

    delivery_id = serializers.IntegerField(source="pk")
    subscription = serializers.CharField(source="subscription.name")
    state = serializers.CharField()
    attempts = serializers.IntegerField()
    last_error = serializers.SerializerMethodField()
    not_before = serializers.DateTimeField(allow_null=True)

    def get_last_error(self, delivery: Any) -> str | None:
        return error_summary(delivery.last_error)


class DeadLetterDetailSerializer(DeadLetterSummarySerializer):
    """A dead letter in full: the error with its traceback, the message as published, its replays."""

    last_error = serializers.CharField(help_text="The last error with its traceback.")  # type: ignore[assignment]
    replays = ReplaySerializer(many=True, read_only=True)

    class Meta(DeadLetterSummarySerializer.Meta):
        fields = [*DeadLetterSummarySerializer.Meta.fields, "delivery_id", "payload", "attributes", "replays"]


class DeadLetterSelectionSerializer(StrictSerializer):
    """Which dead letters to act on: `ids`, or a `filter` (`{}` with `"all": true` for all)."""

    ids = serializers.ListField(child=StrictIntegerField(min_value=1), min_length=1, max_length=MAX_IDS, required=False)
    filter = serializers.DictField(
        required=False, help_text=f"The list's filters: {', '.join(FILTER_NAMES)}. {{}} with all=true means all."
    )
    all = serializers.BooleanField(required=False, default=False, help_text="Confirm that an empty filter means all.")

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        has_ids, has_filter = "ids" in attrs, "filter" in attrs
        if has_ids == has_filter:
            raise serializers.ValidationError(
                {"non_field_errors": ['Send exactly one of "ids" or "filter".']}, code="invalid"
            )
        if has_filter and not attrs["filter"] and not attrs["all"]:
            raise serializers.ValidationError(
                {"all": ['An empty filter selects every dead letter: send "all": true to mean it.']}
            )
        if attrs["all"] and (has_ids or attrs["filter"]):
            raise serializers.ValidationError({"all": ['"all": true goes only with an empty filter {}.']})
        return attrs


class DeadLetterReplayRequestSerializer(DeadLetterSelectionSerializer):
    rate_per_second = StrictFloatField(
        required=False,
        default=DEFAULT_REPLAY_RATE_PER_SECOND,
        max_value=MAX_REPLAY_RATE_PER_SECOND,
        help_text="Replayed deliveries go out at most this many per second.",
    )

    def validate_rate_per_second(self, value: float) -> float:
        if not value > 0:
            raise serializers.ValidationError("Must be above 0.")
        return value


class ReplaySkippedSerializer(serializers.Serializer):
    in_flight = serializers.IntegerField(help_text="The delivery is pending or retrying again.")
    delivered = serializers.IntegerField(help_text="The delivery succeeded since.")
    superseded = serializers.IntegerField(help_text="The delivery died again since: its newest dead letter counts.")
    already_rerouted = serializers.IntegerField(help_text="The unroutable message was replayed or routed before.")
    expired = serializers.IntegerField(help_text="The message's TTL has passed.")


class ReplayReportSerializer(serializers.Serializer):
    selected = serializers.IntegerField()
    replayed = serializers.IntegerField(help_text="Deliveries reset to start again from attempt 1.")
    rerouted = serializers.IntegerField(help_text="Unroutable messages that reached a subscription this time.")
    still_unroutable = serializers.IntegerField(help_text="Unroutable messages that still reached none.")
    skipped = ReplaySkippedSerializer()
    rate_per_second = StrictFloatField()
    last_due_at = serializers.DateTimeField(allow_null=True, help_text="When the last replayed delivery is due.")


class PurgeReportSerializer(serializers.Serializer):
    purged = serializers.IntegerField()
