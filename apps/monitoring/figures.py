"""The figures of Switchboard, read when asked: what /metrics, the dashboard and the alert rules show.

Nothing here is kept in a process: counters and histograms are read from the Redis
hashes every process writes through apps.core.telemetry, and gauges are computed from
Redis and the database at the moment they are read. So the figures are the same
whichever gunicorn worker answers, however many worker processes and hosts count, and
a restarted process loses nothing.

| figure | read from |
|---|---|
| published, outcomes delivered, retried, dead; histograms | `sb:metrics`, `sb:metrics:histograms` (telemetry) |
| duplicates, unroutable | `sb:counters` (apps.delivery.counters) |
| depth `ready` | LLEN of the subscription's queue (task messages) |
| depth `scheduled` | the delay schedule and its claims (deliveries) |
| depth `in_flight` | kombu's unacknowledged task messages, per queue |
| depth `outbox` | deliveries committed and not yet sent (`sent_at` null) |
| oldest open age | the oldest open delivery that is due (not waiting for a delay or a retry) |
| dead letters | DeadLetter rows not replayed, per subscription and reason |
| consumers | worker nodes whose heartbeat (apps.monitoring.worker_heartbeat) names the queue |
| paused | the subscription's `paused` |
"""

import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime

import orjson
import redis
from django.db.models import Count, Min, Q

from apps.core import redis_keys, telemetry
from apps.core.redis import redis_client
from apps.deadletters.models import DeadLetter, DeadLetterReason
from apps.delivery import broker, counters, scheduler
from apps.delivery.models import OPEN_STATES, Delivery
from apps.monitoring import alert_selectors
from apps.topology.models import Subscription, Topic

# The states of `switchboard_queue_depth`, in the order they are shown.
DEPTH_STATES = ("ready", "scheduled", "in_flight", "outbox")
OUTCOMES = (telemetry.DELIVERED, telemetry.RETRIED, telemetry.DEAD, "duplicate")
# Reasons a subscription's delivery dies for (unroutable messages have no subscription).
SUBSCRIPTION_REASONS = tuple(r.value for r in DeadLetterReason if r != DeadLetterReason.UNROUTABLE)
# A worker node that has not said which queues it consumes for this long is gone.
CONSUMER_STALE_SECONDS = 15.0


@dataclass(frozen=True)
class Histogram:
    """One subscription's histogram: cumulative counts per upper bound (the last is +Inf)."""

    bounds: tuple[float, ...]
    cumulative: tuple[int, ...]
    sum: float

    @property
    def count(self) -> int:
        return self.cumulative[-1]

    def quantile(self, q: float) -> float | None:
        """Estimate the q-quantile as Prometheus's histogram_quantile does (None without observations)."""
        total = self.count
        if total == 0:
            return None
        rank = q * total
        lower_bound, lower_count = 0.0, 0
        for bound, cumulative in zip((*self.bounds, float("inf")), self.cumulative, strict=True):
            if cumulative >= rank:
                if bound == float("inf"):
                    return lower_bound
                inside = cumulative - lower_count
                return lower_bound + (bound - lower_bound) * ((rank - lower_count) / inside if inside else 0)
            lower_bound, lower_count = bound, cumulative
        return lower_bound


@dataclass(frozen=True)
class SubscriptionFigures:
    name: str
    topic: str
    paused: bool
    # Deliveries waiting, by DEPTH_STATES (ready and in_flight count task messages: one
    # per delivery, or per batch of up to batch_size).
    depth: dict[str, int]
    # Seconds since the oldest open, due delivery was created; 0 when none is open.
    oldest_open_age_seconds: float
    # Dead letters not replayed, by reason (every subscription reason, 0 included).
    dead_letters: dict[str, int]
    consumers: int
    # Outcomes counted since counting began: delivered, retried, dead, duplicate.
    deliveries: dict[str, int]
    latency: Histogram
    handler_duration: Histogram


@dataclass(frozen=True)
class TopicFigures:
    name: str
    published: int
    unroutable: int
    # Unroutable messages kept as dead letters, not replayed.
    unroutable_dead_letters: int


@dataclass(frozen=True)
class AlertFiring:
    rule: str
    severity: str


@dataclass(frozen=True)
class Figures:
    taken_at: datetime
    topics: list[TopicFigures] = field(default_factory=list)
    subscriptions: list[SubscriptionFigures] = field(default_factory=list)
    alerts_firing: list[AlertFiring] = field(default_factory=list)

    def subscription(self, name: str) -> SubscriptionFigures:
        return next(s for s in self.subscriptions if s.name == name)

    def topic(self, name: str) -> TopicFigures:
        return next(t for t in self.topics if t.name == name)


def figures_read(*, subscription: str | None = None) -> Figures:
    """Read every figure now (or only one subscription's, with its topic)."""
    subscriptions = list(Subscription.objects.select_related("topic").order_by("name"))
    topics = list(Topic.objects.order_by("name"))
    if subscription is not None:
        subscriptions = [s for s in subscriptions if s.name == subscription]
        topics = [t for t in topics if t.pk in {s.topic_id for s in subscriptions}]
    now = time.time()
    counted = _counters_read(redis_client())
    depth = _depth_read(subscriptions)
    oldest = _oldest_open(now)
    dead = _dead_letters()
    consumers = consumers_per_queue(redis_client(), now=now)
    return Figures(
        taken_at=datetime.fromtimestamp(now, tz=UTC),
        topics=[
            TopicFigures(
                name=t.name,
                published=_int(counted, telemetry.published_field(t.name)),
                unroutable=_int(counted, counters.unroutable(t.name)),
                unroutable_dead_letters=dead.get((None, t.name), 0),
            )
            for t in topics
        ],
        subscriptions=[
            SubscriptionFigures(
                name=s.name,
                topic=s.topic.name,
                paused=s.paused,
                depth={state: depth[state].get(s.name, 0) for state in DEPTH_STATES},
                oldest_open_age_seconds=max(0.0, now - oldest[s.pk]) if s.pk in oldest else 0.0,
                dead_letters={reason: dead.get((s.pk, reason), 0) for reason in SUBSCRIPTION_REASONS},
                consumers=consumers.get(s.queue, 0),
                deliveries={outcome: _int(counted, _outcome_field(s.name, outcome)) for outcome in OUTCOMES},
                latency=_histogram(counted, telemetry.LATENCY, s.name),
                handler_duration=_histogram(counted, telemetry.DURATION, s.name),
            )
            for s in subscriptions
        ],
        alerts_firing=alerts_firing(),
    )


def alerts_firing() -> list[AlertFiring]:
    """The alert rules firing now, on at least one subscription (apps.monitoring.alerting)."""
    return [AlertFiring(rule=rule, severity=severity) for rule, severity in alert_selectors.rules_firing()]


def _outcome_field(subscription: str, outcome: str) -> str:
    if outcome == "duplicate":
        return counters.duplicates(subscription)
    return telemetry.outcome_field(subscription, outcome)


def _counters_read(client: redis.Redis) -> dict[str, float]:
    """Every counter and histogram field, in one round trip (the field names do not overlap)."""
    pipe = client.pipeline(transaction=False)
    pipe.hgetall(redis_keys.METRICS)
    pipe.hgetall(redis_keys.METRICS_HISTOGRAMS)
    pipe.hgetall(redis_keys.COUNTERS)
    return {name.decode(): float(value) for raw in pipe.execute() for name, value in raw.items()}


def _int(counted: dict[str, float], name: str) -> int:
    return int(counted.get(name, 0))


def _histogram(counted: dict[str, float], histogram: str, subscription: str) -> Histogram:
    bounds = telemetry.HISTOGRAM_BUCKETS[histogram]
    running, cumulative = 0, []
    for bucket in range(len(bounds) + 1):
        running += _int(counted, telemetry.bucket_field(histogram, subscription, bucket))
        cumulative.append(running)
    return Histogram(
        bounds=bounds,
        cumulative=tuple(cumulative),
        sum=float(counted.get(telemetry.sum_field(histogram, subscription), 0.0)),
    )


def _depth_read(subscriptions: list[Subscription]) -> dict[str, dict[str, int]]:
    """Deliveries waiting per subscription, by state."""
    sender = broker.sender_client()
    pipe = sender.pipeline(transaction=False)
    for s in subscriptions:
        pipe.llen(s.queue)
    ready = {s.name: int(n) for s, n in zip(subscriptions, pipe.execute(), strict=True)}
    unacked = broker.unacked_per_queue(sender)
    outbox = dict(
        Delivery.objects.filter(sent_at__isnull=True)
        .values("subscription__name")
        .annotate(n=Count("id"))
        .values_list("subscription__name", "n")
    )
    return {
        "ready": ready,
        "scheduled": _scheduled_per_subscription(redis_client()),
        "in_flight": {redis_keys.subscription_of_queue(q): n for q, n in unacked.items()},
        "outbox": outbox,
    }


def _scheduled_per_subscription(client: redis.Redis) -> dict[str, int]:
    """Count the delay schedule's entries (and those a relay claimed) per subscription.

    A scan, in steps, of every entry: a scrape reads it all once, without blocking Redis.
    """
    counts: dict[str, int] = defaultdict(int)
    for key in (redis_keys.SCHEDULED, redis_keys.SCHEDULED_CLAIMED):
        for member, _ in client.zscan_iter(key, count=1000):
            entry = scheduler.ScheduledDelivery.decode(member)
            counts[redis_keys.subscription_of_queue(entry.queue)] += 1
    return counts


def _oldest_open(now: float) -> dict[int, float]:
    """When the oldest open delivery of each subscription was created (Unix seconds).

    Deliveries waiting for a delay (`not_before` ahead) or a retry (`retry_at` ahead) are
    not late yet: they show in the `scheduled` depth instead.
    """
    moment = datetime.fromtimestamp(now, tz=UTC)
    due_now = (Q(not_before__isnull=True) | Q(not_before__lte=moment)) & (
        Q(retry_at__isnull=True) | Q(retry_at__lte=moment)
    )
    rows = (
        Delivery.objects.filter(state__in=OPEN_STATES)
        .filter(due_now)
        .values("subscription_id")
        .annotate(oldest=Min("created_at"))
        .values_list("subscription_id", "oldest")
    )
    return {subscription_id: oldest.timestamp() for subscription_id, oldest in rows}


def _dead_letters() -> dict[tuple[int | None, str], int]:
    """Dead letters not replayed: per (subscription id, reason), and per (None, topic) for unroutable ones."""
    per_subscription = (
        DeadLetter.objects.filter(replayed_at__isnull=True, subscription__isnull=False)
        .values("subscription_id", "reason")
        .annotate(n=Count("id"))
        .values_list("subscription_id", "reason", "n")
    )
    found: dict[tuple[int | None, str], int] = {(s, reason): n for s, reason, n in per_subscription}
    unroutable = (
        DeadLetter.objects.filter(replayed_at__isnull=True, subscription__isnull=True)
        .values("topic")
        .annotate(n=Count("id"))
        .values_list("topic", "n")
    )
    found.update({(None, topic): n for topic, n in unroutable})
    return found


def consumers_per_queue(client: redis.Redis, *, now: float) -> dict[str, int]:
    """Count, per queue, the worker nodes consuming it now (by their heartbeats)."""
    counts: dict[str, int] = defaultdict(int)
    for raw in client.hvals(redis_keys.CONSUMERS):  # type: ignore[union-attr]
        beat = orjson.loads(raw)
        if now - float(beat["at"]) <= CONSUMER_STALE_SECONDS:
            for queue in beat["queues"]:
                counts[queue] += 1
    return counts
