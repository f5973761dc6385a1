"""The filters of the message history (GET /api/v1/messages), as a django-filter FilterSet.

`subscription` and `state` look at a message's deliveries: with both, the message's
delivery to that subscription is in that state; with one, some delivery is. An
idempotency key finds the message its first use published, while the key is kept.
Attribute filters (`attribute=name=value`, repeatable) are applied by the selector.
"""

import django_filters
from django.db.models import Exists, OuterRef, QuerySet

from apps.core.api.filters import UtcIsoDateTimeFilter
from apps.delivery.models import Delivery, DeliveryState
from apps.publishing.models import IdempotencyKey, IdempotencyState, Message
from apps.topology.models import Subscription, Topic


class MessageFilterSet(django_filters.FilterSet):
    topic = django_filters.ModelChoiceFilter(
        queryset=Topic.objects.all(),
        to_field_name="name",
        error_messages={"invalid_choice": "There is no topic named %(value)s."},
        help_text="Topic name.",
    )
    subscription = django_filters.ModelChoiceFilter(
        queryset=Subscription.objects.all(),
        to_field_name="name",
        method="filter_deliveries",
        error_messages={"invalid_choice": "There is no subscription named %(value)s."},
        help_text="Messages routed to this subscription.",
    )
    state = django_filters.ChoiceFilter(
        choices=DeliveryState.choices, method="filter_deliveries", help_text="Messages with a delivery in this state."
    )
    key = django_filters.CharFilter(field_name="key", help_text="The message key, exactly.")
    idempotency_key = django_filters.CharFilter(method="filter_idempotency_key", help_text="The Idempotency-Key used.")
    published_since = UtcIsoDateTimeFilter(
        field_name="published_at", lookup_expr="gte", help_text="ISO 8601; published at or after this time."
    )
    published_until = UtcIsoDateTimeFilter(
        field_name="published_at", lookup_expr="lt", help_text="ISO 8601; published before this time."
    )

    class Meta:
        model = Message
        fields: list[str] = []

    def filter_deliveries(self, queryset: QuerySet[Message], name: str, value: object) -> QuerySet[Message]:
        # Both filters name one delivery: applied once, when the first of them is met.
        if getattr(self, "_deliveries_filtered", False):
            return queryset
        self._deliveries_filtered = True
        subscription, state = self.form.cleaned_data.get("subscription"), self.form.cleaned_data.get("state")
        deliveries = Delivery.objects.filter(message=OuterRef("pk"))
        if subscription:
            deliveries = deliveries.filter(subscription=subscription)
        if state:
            deliveries = deliveries.filter(state=state)
        return queryset.filter(Exists(deliveries))

    def filter_idempotency_key(self, queryset: QuerySet[Message], name: str, value: str) -> QuerySet[Message]:
        bodies = IdempotencyKey.objects.filter(key=value, state=IdempotencyState.COMPLETED).values_list(
            "response_body", flat=True
        )
        ids = [body["id"] for body in bodies if isinstance(body, dict) and "id" in body]
        return queryset.filter(pk__in=ids)


FILTER_NAMES: tuple[str, ...] = (*MessageFilterSet.base_filters, "attribute")
