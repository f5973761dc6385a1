"""Topics and subscriptions as plain values: what the file, the admin and the API declare.

The loader parses `topology.yaml` into them, the validator (apps.topology.validation)
checks them, the services write them, and the export renders them back as YAML.
"""

from dataclasses import dataclass, field, fields
from typing import Any

from apps.topology.models import ConsumerKind, Subscription, Topic, UnroutablePolicy


@dataclass(frozen=True)
class TopicSpec:
    name: str
    description: str = ""
    unroutable: str = UnroutablePolicy.DROP.value
    # Days a finished message is kept; None: SWITCHBOARD_RETENTION_DAYS.
    retention_days: int | None = None


@dataclass(frozen=True)
class SubscriptionSpec:
    name: str
    topic: str
    consumer_kind: str = ConsumerKind.PYTHON.value
    handler: str = ""
    webhook_url: str = ""
    webhook_secrets: list[str] = field(default_factory=list, repr=False)
    # The environment variable the file read the secrets from (kept for the export).
    webhook_secrets_env: str = ""
    filter_policy: dict[str, Any] = field(default_factory=dict)
    batch_size: int = 1
    # None: the file does not say; sync_topology then never changes a runtime pause.
    paused: bool | None = None
    max_attempts: int = 5
    retry_initial_delay: float = 1.0
    retry_multiplier: float = 2.0
    retry_max_delay: float = 300.0
    retry_jitter: float = 0.2


@dataclass(frozen=True)
class TopologySpec:
    topics: list[TopicSpec]
    subscriptions: list[SubscriptionSpec]


def topic_spec(topic: Topic) -> TopicSpec:
    """Describe a saved topic as a spec."""
    return TopicSpec(**{f.name: getattr(topic, f.name) for f in fields(TopicSpec)})


def subscription_spec(subscription: Subscription) -> SubscriptionSpec:
    """Describe a saved (or unsaved) subscription as a spec."""
    values = {f.name: getattr(subscription, f.name) for f in fields(SubscriptionSpec) if f.name != "topic"}
    return SubscriptionSpec(topic=subscription.topic.name, **values)
