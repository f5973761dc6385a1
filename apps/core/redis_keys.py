"""Every Redis key Switchboard writes, named once.

Switchboard keeps its own state under `sb:` and its queues as `sb.<subscription>`:

| key | type | what it holds | written by |
|---|---|---|---|
| `sb.<subscription>` | list | the subscription's task messages (Celery queue) | delivery.outbox, via delivery.broker |
| `sb.control` | list | Celery's default queue: tasks sent without a queue | Celery |
| `sb:running` | sorted set | the leases of running deliveries, scored by when they end | delivery.leases |
| `sb:starts:<delivery id>` | string | how many times a delivery started (survives crashes) | delivery.leases |
| `sb:scheduled` | sorted set | deliveries waiting to be due (retries, delays, reclaims) | delivery.scheduler, .leases |
| `sb:scheduled:claimed` | sorted set | due deliveries a relay claimed, scored by its claim's end | delivery.scheduler |
| `sb:counters` | hash | counts with no row of their own: duplicates, unroutable | delivery.counters |
| `sb:metrics` | hash | counters of /metrics: published per topic, delivery outcomes per subscription | core.telemetry |
| `sb:metrics:histograms` | hash | histogram buckets and sums of /metrics, per subscription | core.telemetry |
| `sb:ratelimit:<kind>:<who>` | hash | token buckets: publish, api (per key), auth (per address) | accounts.ratelimit |
| `sb:consumers` | hash | per worker node: the queues it consumes, and when it said so | monitoring.worker_heartbeat |

The members of `sb:running`, `sb:scheduled` and `sb:scheduled:claimed` are the same
`[queue, delivery id]` JSON (delivery.scheduler.ScheduledDelivery). The keys kombu's
Redis transport keeps for itself (`unacked`, `unacked_index`, ...) are named in
apps.delivery.broker, the one module that touches them.
"""

SUBSCRIPTION_QUEUE_PREFIX = "sb."
CONTROL_QUEUE = "sb.control"
RUNNING = "sb:running"
STARTS_PREFIX = "sb:starts:"
SCHEDULED = "sb:scheduled"
SCHEDULED_CLAIMED = "sb:scheduled:claimed"
COUNTERS = "sb:counters"
METRICS = "sb:metrics"
METRICS_HISTOGRAMS = "sb:metrics:histograms"
CONSUMERS = "sb:consumers"


def subscription_queue(subscription: str) -> str:
    """Name the queue (a Redis list) a subscription's deliveries travel on."""
    return f"{SUBSCRIPTION_QUEUE_PREFIX}{subscription}"


def is_subscription_queue(queue: str) -> bool:
    return queue.startswith(SUBSCRIPTION_QUEUE_PREFIX)


def subscription_of_queue(queue: str) -> str:
    """Name the subscription whose queue this is (the inverse of `subscription_queue`)."""
    return queue.removeprefix(SUBSCRIPTION_QUEUE_PREFIX)


RATE_LIMIT_PREFIX = "sb:ratelimit:"


def rate_limit(kind: str, who: str) -> str:
    """Name the token bucket of `kind` (publish, api, auth) for `who` (an API key id, a client address)."""
    return f"{RATE_LIMIT_PREFIX}{kind}:{who}"


def starts(delivery_id: int) -> str:
    """Name the start counter of a delivery."""
    return f"{STARTS_PREFIX}{delivery_id}"
