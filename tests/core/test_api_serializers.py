"""Tests for apps.core.api.serializers.StrictSerializer: unknown fields are refused by name."""

from typing import Any

import pytest
from rest_framework import serializers

from apps.core.api.serializers import StrictSerializer


class NoteSerializer(StrictSerializer):
    text = serializers.CharField()
    tags = serializers.ListField(child=serializers.CharField(), required=False)


@pytest.mark.parametrize(
    ("data", "errors"),
    [
        ([1], {"non_field_errors": ["The body must be a JSON object."]}),
        ("text", {"non_field_errors": ["The body must be a JSON object."]}),
        ({"text": "hi", "tag": ["a"], "colour": "red"}, {"colour": ["Unknown field."], "tag": ["Unknown field."]}),
        ({"colour": "red"}, {"colour": ["Unknown field."]}),
    ],
    ids=["list", "string", "unknown-fields-sorted", "unknown-before-missing"],
)
def test_a_body_that_is_not_an_object_or_has_unknown_fields_is_refused(data: Any, errors: dict[str, Any]) -> None:
    serializer = NoteSerializer(data=data)
    assert serializer.is_valid() is False
    assert serializer.errors == errors


def test_a_body_with_known_fields_only_is_validated_as_usual() -> None:
    serializer = NoteSerializer(data={"text": "hi"})
    assert serializer.is_valid() is True
    assert serializer.validated_data == {"text": "hi"}
    missing = NoteSerializer(data={"tags": ["a"]})
    assert missing.is_valid() is False
    assert missing.errors == {"text": ["This field is required."]}
