"""django-filter pieces shared by the API's list filters."""

from datetime import UTC, datetime
from typing import Any

import django_filters
from django import forms
from django_filters.fields import IsoDateTimeField


class UtcIsoDateTimeField(IsoDateTimeField):
    """An ISO 8601 date-time, refused (not a 500) when its offset moves it out of the years 1 to 9999."""

    def to_python(self, value: Any) -> datetime | None:
        try:
            parsed = super().to_python(value)
            return None if parsed is None else parsed.astimezone(UTC)
        except OverflowError:
            raise forms.ValidationError("Enter a date/time between the years 1 and 9999 in UTC.") from None


class UtcIsoDateTimeFilter(django_filters.IsoDateTimeFilter):
    field_class = UtcIsoDateTimeField
