"""The filters people select dead letters by, as a django-filter FilterSet.

The same filters serve the list (query parameters), replay and purge (a JSON object), so
every value arrives as a string (JSON `true`/`false` for `replayed` too, see
`selectors.dead_letters_filter`). An unknown name, a subscription or topic that does not
exist, or a malformed date or id is an error naming the filter, never silently ignored:
a replay or purge whose filter was ignored would act on everything.
"""

import django_filters
from django import forms
from django.db.models import QuerySet

from apps.core.api.filters import UtcIsoDateTimeFilter
from apps.deadletters.models import DeadLetter, DeadLetterReason
from apps.topology.models import Subscription, Topic


class StrictBooleanField(forms.Field):
    """Accept "true" or "false" (any case) only; Django's NullBooleanField reads anything else as unset."""

    default_error_messages = {"invalid": "Must be true or false."}

    def to_python(self, value: object) -> bool | None:
        if value in self.empty_values:
            return None
        text = str(value).lower()
        if text not in {"true", "false"}:
            raise forms.ValidationError(self.error_messages["invalid"], code="invalid")
        return text == "true"


class StrictBooleanFilter(django_filters.BooleanFilter):
    field_class = StrictBooleanField


class DeadLetterFilterSet(django_filters.FilterSet):
    subscription = django_filters.ModelChoiceFilter(
        queryset=Subscription.objects.all(),
        to_field_name="name",
        error_messages={"invalid_choice": "There is no subscription named %(value)s."},
        help_text="Subscription name.",
    )
    topic = django_filters.ModelChoiceFilter(
        queryset=Topic.objects.all(),
        to_field_name="name",
        method="filter_topic",
        error_messages={"invalid_choice": "There is no topic named %(value)s."},
        help_text="Topic name.",
    )
    reason = django_filters.ChoiceFilter(choices=DeadLetterReason.choices)
    created_after = UtcIsoDateTimeFilter(
        field_name="created_at", lookup_expr="gte", help_text="ISO 8601; dead-lettered at or after this time."
    )
    created_before = UtcIsoDateTimeFilter(
        field_name="created_at", lookup_expr="lt", help_text="ISO 8601; dead-lettered before this time."
    )
    replayed = StrictBooleanFilter(method="filter_replayed", help_text="true: replayed at least once; false: never.")
    message_id = django_filters.UUIDFilter(field_name="message_id")

    class Meta:
        model = DeadLetter
        fields: list[str] = []

    def filter_topic(self, queryset: QuerySet[DeadLetter], name: str, value: Topic | None) -> QuerySet[DeadLetter]:
        # Dead letters keep the topic's name, so they stay readable whatever happens to it.
        return queryset if value is None else queryset.filter(topic=value.name)

    def filter_replayed(self, queryset: QuerySet[DeadLetter], name: str, value: bool | None) -> QuerySet[DeadLetter]:
        return queryset if value is None else queryset.filter(replayed_at__isnull=not value)


FILTER_NAMES: tuple[str, ...] = tuple(DeadLetterFilterSet.base_filters)
