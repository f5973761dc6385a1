"""Delivery tasks written straight to Redis are the messages Celery's apply_async writes."""

import base64
from typing import Any

import orjson
import pytest
from django.core.exceptions import ImproperlyConfigured

from apps.delivery import broker, tasks


def comparable(raw: bytes) -> dict[str, Any]:
    """Decode a queue entry, its body too, and blank what is random per message."""
    entry = orjson.loads(raw)
    entry["body"] = orjson.loads(base64.b64decode(entry["body"]))
    for name in ("id", "root_id"):
        entry["headers"][name] = "<id>"
    for name in ("correlation_id", "delivery_tag"):
        entry["properties"][name] = "<id>"
    return entry


@pytest.mark.parametrize(("task", "args"), [(tasks.deliver, (7,)), (tasks.deliver_batch, ([7, 8, 9],))])
def test_a_task_message_is_the_one_apply_async_writes(celery_broker: str, task: Any, args: tuple[Any, ...]) -> None:
    client = broker.sender_client()
    with task.app.connection_for_write() as connection:
        task.apply_async(
            args=args, queue="sb.orders", connection=connection, retry=False, time_limit=None, soft_time_limit=None
        )
    broker.tasks_push(client, [("sb.orders", broker.task_message(task=task.name, args=args, queue="sb.orders"))])

    celerys, ours = client.lrange("sb.orders", 0, -1)[::-1]  # type: ignore[index]
    assert comparable(ours) == comparable(celerys)
    assert comparable(ours)["body"] == [
        list(args),
        {},
        {"callbacks": None, "errbacks": None, "chain": None, "chord": None},
    ]
    assert comparable(ours)["properties"]["delivery_info"] == {"exchange": "", "routing_key": "sb.orders"}


def test_tasks_push_sends_every_queue_in_one_round_trip_and_keeps_each_queues_order(celery_broker: str) -> None:
    client = broker.sender_client()
    messages = [
        ("sb.a", b"a1"),
        ("sb.b", b"b1"),
        ("sb.a", b"a2"),
        ("sb.a", b"a3"),
    ]
    client.config_resetstat()

    broker.tasks_push(client, messages)

    stats: dict[str, Any] = client.info("commandstats")  # type: ignore[assignment]
    assert stats["cmdstat_lpush"]["calls"] == 2
    # Workers pop from the right: first in, first out.
    assert [client.rpop("sb.a") for _ in range(3)] == [b"a1", b"a2", b"a3"]
    assert client.rpop("sb.b") == b"b1"


def test_the_broker_client_never_retries() -> None:
    client = broker.broker_client("redis://127.0.0.1:1/0", 0.5, 0.5)

    assert client.get_retry() is not None
    assert client.get_retry()._retries == 0  # type: ignore[union-attr]


def test_a_key_prefix_for_the_broker_is_refused_with_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(tasks.deliver.app.conf, "broker_transport_options", {"global_keyprefix": "app1:"})
    broker.sender_client.cache_clear()
    try:
        with pytest.raises(ImproperlyConfigured, match="global_keyprefix"):
            broker.sender_client()
    finally:
        broker.sender_client.cache_clear()


def test_the_unacked_keys_are_those_kombus_redis_transport_keeps_and_settings_leave_them_so(settings: Any) -> None:
    """LeaseKeeper renews visibility by bumping scores in UNACKED_INDEX: a kombu that
    renamed its keys, or a setting that moved them, would leave task messages to time out."""
    from kombu.transport.redis import Channel

    assert (Channel.unacked_key, Channel.unacked_index_key, Channel.unacked_mutex_key) == (
        broker.UNACKED,
        broker.UNACKED_INDEX,
        broker.UNACKED_MUTEX,
    )
    options = settings.CELERY_BROKER_TRANSPORT_OPTIONS
    assert {"unacked_key", "unacked_index_key", "unacked_mutex_key", "global_keyprefix"} & set(options) == set()
