"""Serializer bases shared by the API's apps."""

from typing import Any

from rest_framework import serializers


class StrictSerializer(serializers.Serializer):
    """A request body that must be a JSON object naming only the serializer's fields.

    DRF ignores unknown fields; a typo ("ttl" for "ttl_seconds") would then pass
    silently, so each unknown field is refused by name.
    """

    def to_internal_value(self, data: object) -> Any:
        if not isinstance(data, dict):
            raise serializers.ValidationError({"non_field_errors": ["The body must be a JSON object."]})
        unknown = sorted(set(data) - set(self.fields))
        if unknown:
            raise serializers.ValidationError({name: ["Unknown field."] for name in unknown})
        return super().to_internal_value(data)
