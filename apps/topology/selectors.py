"""Read topics and subscriptions, and how many messages wait in their queues.

Publishing reads the topic and its subscriptions for every message; `topic_cached` and
`subscriptions_for_topic` serve them from a per-process copy of the topology instead of
two queries per publish. The copy is checked against the database at most once a
second (a count and the latest `updated_at` of topics and subscriptions: one query) and
reloaded when that changed, so a change made anywhere (sync_topology, pause, admin, a
shell) reaches every publisher within about a second. Writes in this process drop the
copy at once (post_save/post_delete), and the copy is reloaded every
`TOPOLOGY_MAX_AGE_SECONDS` whatever the check says, for writes that bypass `updated_at`
(a queryset `.update()` of other fields).
"""

import threading
import time
from dataclasses import dataclass, field

from django.db.models import Count, Max
from django.db.models.signals import post_delete, post_save

from apps.accounts.topics import ALL_TOPICS, TopicAccess
from apps.core.errors import SwitchboardError
from apps.core.redis import redis_client
from apps.topology.models import Subscription, Topic

TOPOLOGY_CHECK_SECONDS = 1.0
TOPOLOGY_MAX_AGE_SECONDS = 30.0


class UnknownSubscriptionError(SwitchboardError):
    """No subscription has this name (raised by callers for which `subscription_get` finding none is an error)."""

    status = 404
    code = "unknown-subscription"
    title = "Unknown subscription"

    def __init__(self, name: str) -> None:
        super().__init__(f"There is no subscription named {name!r}.")


@dataclass
class _Topology:
    fingerprint: tuple[object, ...]
    loaded_at: float
    checked_at: float
    topics: dict[str, Topic] = field(default_factory=dict)
    subscriptions: dict[int, list[Subscription]] = field(default_factory=dict)


_cache: _Topology | None = None
_lock = threading.Lock()


def _fingerprint() -> tuple[object, ...]:
    topics = Topic.objects.aggregate(n=Count("id"), latest=Max("updated_at"))
    subscriptions = Subscription.objects.aggregate(n=Count("id"), latest=Max("updated_at"))
    return (topics["n"], topics["latest"], subscriptions["n"], subscriptions["latest"])


def _load(fingerprint: tuple[object, ...], now: float) -> _Topology:
    topology = _Topology(fingerprint=fingerprint, loaded_at=now, checked_at=now)
    for topic in Topic.objects.all():
        topology.topics[topic.name] = topic
        topology.subscriptions[topic.pk] = []
    for subscription in Subscription.objects.order_by("name"):
        topology.subscriptions.setdefault(subscription.topic_id, []).append(subscription)
    return topology


def _topology() -> _Topology:
    global _cache
    now = time.monotonic()
    cached = _cache
    if cached is not None and now - cached.checked_at < TOPOLOGY_CHECK_SECONDS:
        return cached
    with _lock:
        cached = _cache
        if cached is not None and now - cached.checked_at < TOPOLOGY_CHECK_SECONDS:
            return cached
        fingerprint = _fingerprint()
        if cached is None or cached.fingerprint != fingerprint or now - cached.loaded_at >= TOPOLOGY_MAX_AGE_SECONDS:
            cached = _load(fingerprint, now)
        else:
            cached.checked_at = now
        _cache = cached
        return cached


def topology_cache_clear(**kwargs: object) -> None:
    """Forget this process's copy of the topology; the next read loads it again."""
    global _cache
    _cache = None


for _model in (Topic, Subscription):
    post_save.connect(topology_cache_clear, sender=_model, dispatch_uid=f"topology-cache-save-{_model.__name__}")
    post_delete.connect(topology_cache_clear, sender=_model, dispatch_uid=f"topology-cache-delete-{_model.__name__}")


def topic_get(*, name: str) -> Topic | None:
    return Topic.objects.filter(name=name).first()


def topic_cached(*, name: str) -> Topic | None:
    """Return the topic named `name` from this process's copy of the topology (see above).

    A name the copy lacks is looked up in the database, so a topic created a moment ago
    is found; the copy is then dropped, to be reloaded with it.
    """
    topic = _topology().topics.get(name)
    if topic is None:
        topic = topic_get(name=name)
        if topic is not None:
            topology_cache_clear()
    return topic


def subscriptions_for_topic(*, topic_id: int) -> list[Subscription]:
    """Return the topic's subscriptions from this process's copy of the topology (see above)."""
    topology = _topology()
    if topic_id not in topology.subscriptions:
        topology_cache_clear()  # a topic the copy does not know yet
        return list(Subscription.objects.filter(topic_id=topic_id))
    return topology.subscriptions[topic_id]


def subscription_queues(*, paused: bool | None = None) -> list[str]:
    """Name the queues of all subscriptions, or of the paused (True) or active (False) ones."""
    subscriptions = Subscription.objects.only("name")
    if paused is not None:
        subscriptions = subscriptions.filter(paused=paused)
    return [s.queue for s in subscriptions]


def subscription_paused_flags() -> dict[str, bool]:
    """Map every subscription's queue to its `paused` flag, read from the database (one query)."""
    return {s.queue: s.paused for s in Subscription.objects.only("name", "paused")}


def queue_depths(*, queues: list[str]) -> dict[str, int]:
    """Count the messages waiting in each subscription queue (not those a worker holds unacknowledged)."""
    pipe = redis_client().pipeline(transaction=False)
    for queue in queues:
        pipe.llen(queue)
    return dict(zip(queues, (int(n) for n in pipe.execute()), strict=True))


def subscription_get(*, name: str, topics: TopicAccess = ALL_TOPICS) -> Subscription | None:
    """Return the subscription named `name` if its topic is among `topics`, else None."""
    return topics.filter(Subscription.objects.select_related("topic"), "topic__name").filter(name=name).first()


def subscriptions_list(*, topics: TopicAccess = ALL_TOPICS) -> list[Subscription]:
    """Return the subscriptions of `topics`, in name order."""
    return list(topics.filter(Subscription.objects.select_related("topic"), "topic__name").order_by("name"))


def subscription_batch_sizes() -> dict[str, int]:
    """Map each subscription's queue to its batch size."""
    return {s.queue: s.batch_size for s in Subscription.objects.only("name", "batch_size")}


class TopicNotFoundError(SwitchboardError):
    """No topic has this name (raised by callers for which `topic_get` finding none is an error)."""

    status = 404
    code = "unknown-topic"
    title = "Unknown topic"

    def __init__(self, name: str) -> None:
        super().__init__(f"There is no topic named {name!r}.")


def topics_with_subscription_counts() -> list[Topic]:
    """Return every topic, each annotated with `subscription_count`."""
    return list(Topic.objects.annotate(subscription_count=Count("subscriptions")).order_by("name"))
