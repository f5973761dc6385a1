"""Render the topology in the database as topology.yaml, which `sync_topology` accepts back unchanged.

Every value is written out (the retry policy too), so a file synced from the export
finds every row as it is. Signing secrets never appear: a webhook subscription names
the environment variable that holds them (`secrets_env`), which must be set where the
file is synced, as for any topology file.
"""

import re
from typing import Any

import yaml

from apps.accounts.topics import ALL_TOPICS, TopicAccess
from apps.topology.models import ConsumerKind, Subscription, Topic, UnroutablePolicy

HEADER = "# Exported by Switchboard; `manage.py sync_topology --file <this file>` accepts it back.\n"


def default_secrets_env(subscription_name: str) -> str:
    """Name the environment variable of a webhook subscription's secrets when none was given."""
    return re.sub(r"[^A-Z0-9]", "_", subscription_name.upper()) + "_WEBHOOK_SECRETS"


def topology_document(*, topics_visible: TopicAccess = ALL_TOPICS) -> dict[str, Any]:
    """Describe every topic and subscription (of the topics visible) as topology.yaml does."""
    topics = []
    for topic in topics_visible.filter(Topic.objects.order_by("name"), "name"):
        entry: dict[str, Any] = {"name": topic.name}
        if topic.description:
            entry["description"] = topic.description
        if topic.unroutable != UnroutablePolicy.DROP:
            entry["unroutable"] = topic.unroutable
        if topic.retention_days is not None:
            entry["retention_days"] = topic.retention_days
        topics.append(entry)
    rows = topics_visible.filter(Subscription.objects.select_related("topic"), "topic__name").order_by("name")
    subscriptions = [_subscription_entry(s) for s in rows]
    return {"topics": topics, "subscriptions": subscriptions}


def _subscription_entry(subscription: Subscription) -> dict[str, Any]:
    entry: dict[str, Any] = {"name": subscription.name, "topic": subscription.topic.name}
    if subscription.consumer_kind == ConsumerKind.WEBHOOK:
        entry["consumer"] = ConsumerKind.WEBHOOK.value
        entry["url"] = subscription.webhook_url
        entry["secrets_env"] = subscription.webhook_secrets_env or default_secrets_env(subscription.name)
    else:
        entry["handler"] = subscription.handler
    if subscription.filter_policy:
        entry["filter_policy"] = subscription.filter_policy
    entry["batch_size"] = subscription.batch_size
    if subscription.paused:
        entry["paused"] = True
    entry["retry"] = {
        "max_attempts": subscription.max_attempts,
        "initial_delay": subscription.retry_initial_delay,
        "multiplier": subscription.retry_multiplier,
        "max_delay": subscription.retry_max_delay,
        "jitter": subscription.retry_jitter,
    }
    return entry


def topology_export(*, topics_visible: TopicAccess = ALL_TOPICS) -> str:
    """Return the topology (of the topics visible) as YAML text."""
    return HEADER + yaml.safe_dump(
        topology_document(topics_visible=topics_visible), sort_keys=False, allow_unicode=True, width=100
    )
