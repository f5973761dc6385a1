from rest_framework import serializers

from apps.accounts.models import AuditEvent
from apps.core.api.serializers import StrictSerializer


class AuditEventSerializer(serializers.ModelSerializer):
    class Meta:
        model = AuditEvent
        fields = ["id", "at", "actor_kind", "actor_name", "action", "targets", "count", "ip"]


class AuditEventFilterSerializer(StrictSerializer):
    action = serializers.CharField(required=False, max_length=50, help_text="e.g. dead_letters.purge")
    actor = serializers.CharField(
        required=False, max_length=150, help_text="An API key's, admin user's or OS user's name."
    )
    actor_kind = serializers.ChoiceField(required=False, choices=["api_key", "admin", "command", "code"])
    since = serializers.DateTimeField(required=False, help_text="ISO 8601; events at or after this time.")
    limit = serializers.IntegerField(required=False, help_text="Page size, 1 to 500 (default 50).")
    offset = serializers.IntegerField(required=False, help_text="Skip this many (default 0).")


class AuditEventPageSerializer(serializers.Serializer):
    count = serializers.IntegerField()
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    results = AuditEventSerializer(many=True)
