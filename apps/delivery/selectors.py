"""Read deliveries for their attempts: their queues, and the deliveries with what an attempt needs."""

from collections.abc import Callable, Sequence
from functools import cache
from typing import Any

from django.db import connection
from django.db.models import Model

from apps.core import redis_keys
from apps.delivery.models import Delivery
from apps.publishing.models import Message
from apps.topology.models import Subscription, Topic


def delivery_queues(delivery_ids: list[int]) -> dict[int, str]:
    """Map each existing delivery to its subscription's queue (one query)."""
    rows = Delivery.objects.filter(pk__in=delivery_ids).values_list("pk", "subscription__name")
    return {pk: redis_keys.subscription_queue(name) for pk, name in rows}


def deliveries_for_attempt(delivery_ids: list[int]) -> dict[int, Delivery]:
    """Load deliveries with their message, the message's topic and the subscription, by id.

    What `Delivery.objects.select_related("message__topic", "subscription").in_bulk(ids)`
    returns, in one query whose SQL is built once per process: on the hot path, Django
    compiling that four-table join took longer than the database running it. Values go
    through each field's database converters and models are built with `from_db`, as
    the ORM does.
    """
    if not delivery_ids:
        return {}
    loader = _loader(connection.vendor)
    with connection.cursor() as cursor:
        cursor.execute(loader.sql % ", ".join(["%s"] * len(delivery_ids)), list(delivery_ids))
        rows = cursor.fetchall()
    deliveries = (loader.build(row) for row in rows)
    return {delivery.pk: delivery for delivery in deliveries}


Converter = Callable[[Any, Any, Any], Any]


class _Table:
    """One table of the join: its model, its columns and their converters."""

    def __init__(self, model: type[Model], alias: str) -> None:
        self.model = model
        fields: list[Any] = list(model._meta.concrete_fields)
        self.attnames = [f.attname for f in fields]
        self.columns = [f"{alias}.{connection.ops.quote_name(f.column)}" for f in fields]
        self.converters: list[list[tuple[Converter, Any]]] = []
        for field in fields:
            column = field.get_col(alias)
            found = [*connection.ops.get_db_converters(column), *field.get_db_converters(connection)]
            self.converters.append([(converter, column) for converter in found])

    def build(self, values: Sequence[Any]) -> Any:
        converted = list(values)
        for index, converters in enumerate(self.converters):
            for converter, column in converters:
                converted[index] = converter(converted[index], column, connection)
        return self.model.from_db(connection.alias, self.attnames, converted)


class _Loader:
    def __init__(self) -> None:
        q = connection.ops.quote_name
        self.tables = [
            _Table(Delivery, "d"),
            _Table(Message, "m"),
            _Table(Topic, "t"),
            _Table(Subscription, "s"),
        ]
        columns = ", ".join(c for table in self.tables for c in table.columns)
        # %%s: the ids' placeholders go in per call (one per id).
        self.sql = (
            f"SELECT {columns} FROM {q(Delivery._meta.db_table)} d"  # noqa: S608 - model metadata, no input
            f" INNER JOIN {q(Message._meta.db_table)} m ON m.{q('id')} = d.{q('message_id')}"
            f" INNER JOIN {q(Topic._meta.db_table)} t ON t.{q('id')} = m.{q('topic_id')}"
            f" INNER JOIN {q(Subscription._meta.db_table)} s ON s.{q('id')} = d.{q('subscription_id')}"
            f" WHERE d.{q('id')} IN (%s)"
        )
        self.widths = [len(table.columns) for table in self.tables]

    def build(self, row: Sequence[Any]) -> Delivery:
        parts, start = [], 0
        for table, width in zip(self.tables, self.widths, strict=True):
            parts.append(table.build(row[start : start + width]))
            start += width
        delivery, message, topic, subscription = parts
        Message.topic.field.set_cached_value(message, topic)
        Delivery.message.field.set_cached_value(delivery, message)
        Delivery.subscription.field.set_cached_value(delivery, subscription)
        return delivery


@cache
def _loader(vendor: str) -> _Loader:
    return _Loader()
