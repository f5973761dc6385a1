"""Serializer bases shared by the API's apps."""

import math
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


class StrictFloatField(serializers.FloatField):
    """A number field that refuses strings, booleans and non-finite values instead of converting them.

    DRF's FloatField reads "NaN", "Infinity" and `true` as numbers; durations computed
    from them fail far from the input (ValueError, OverflowError).
    """

    default_error_messages = {
        "not_a_number": "Must be a number, not {kind}.",
        "not_finite": "Must be a finite number.",
    }

    def to_internal_value(self, data: object) -> float:
        if isinstance(data, bool) or not isinstance(data, int | float):
            self.fail("not_a_number", kind=type(data).__name__)
        try:
            value = float(data)
        except OverflowError:
            self.fail("not_finite")
        if not math.isfinite(value):
            self.fail("not_finite")
        return super().to_internal_value(value)


class StrictIntegerField(serializers.IntegerField):
    """An integer field that refuses strings, booleans and floats, and values beyond a 64-bit database column."""

    default_error_messages = {"not_an_integer": "Must be a whole number, not {kind}."}

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("max_value", 2**63 - 1)
        kwargs.setdefault("min_value", -(2**63))
        super().__init__(**kwargs)

    def to_internal_value(self, data: object) -> int:
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("not_an_integer", kind=type(data).__name__)
        return super().to_internal_value(data)


class StrictCharField(serializers.CharField):
    """A string field that refuses numbers and booleans instead of converting them."""

    default_error_messages = {"not_a_string": "Must be a string, not {kind}."}

    def to_internal_value(self, data: object) -> str:
        if not isinstance(data, str):
            self.fail("not_a_string", kind=type(data).__name__)
        return super().to_internal_value(data)
