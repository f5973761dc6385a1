"""Create, update and delete one topic or subscription at a time (the REST API, the CLI).

Each change passes the validator the topology file and the admin use
(apps.topology.validation) and has the file's effect: the same rows, and pausing or
resuming through the same services as `subscription pause` (so workers follow). Nothing
is written while a problem is left; every problem is named, field by field.
"""

from dataclasses import asdict, replace
from typing import Any

from django.db import IntegrityError, transaction

from apps.accounts import audit
from apps.core.errors import SwitchboardError
from apps.topology import services, validation
from apps.topology.export import default_secrets_env
from apps.topology.models import ConsumerKind, Subscription, Topic
from apps.topology.specs import SubscriptionSpec, TopicSpec, subscription_spec, topic_spec


class InvalidTopicError(SwitchboardError):
    status = 400
    code = "invalid-topic"
    title = "Invalid topic"


class InvalidSubscriptionError(SwitchboardError):
    status = 400
    code = "invalid-subscription"
    title = "Invalid subscription"


class TopologyNameTakenError(SwitchboardError):
    status = 409
    code = "name-taken"
    title = "Name taken"


class TopicInUseError(SwitchboardError):
    """A topic that still has subscriptions or messages cannot be deleted."""

    status = 409
    code = "topic-in-use"
    title = "Topic in use"


def _errors(problems: list[validation.Problem]) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    for problem in problems:
        message = f"{problem.path}: {problem.message}" if problem.path else problem.message
        errors.setdefault(problem.field, []).append(message)
    return errors


def _check_topic(spec: TopicSpec) -> None:
    problems = validation.topic_problems(spec)
    if problems:
        raise InvalidTopicError(errors=_errors(problems))


def _check_subscription(spec: SubscriptionSpec) -> Topic:
    """Validate the spec; return its topic."""
    problems = validation.subscription_problems(spec)
    if problems:
        raise InvalidSubscriptionError(errors=_errors(problems))
    topic = Topic.objects.filter(name=spec.topic).first()
    if topic is None:
        raise InvalidSubscriptionError(errors={"topic": [f"There is no topic named {spec.topic!r}."]})
    return topic


def _spec_values(spec: TopicSpec | SubscriptionSpec) -> dict[str, Any]:
    values = asdict(spec)
    values.pop("name")
    values.pop("topic", None)
    return values


@transaction.atomic
def topic_create(*, spec: TopicSpec, actor: audit.Actor = audit.PYTHON_CODE) -> Topic:
    """Create a topic as topology.yaml would declare it (recorded in the audit log, as every change here)."""
    _check_topic(spec)
    if Topic.objects.filter(name=spec.name).exists():
        raise TopologyNameTakenError(f"A topic named {spec.name!r} exists already.")
    try:
        with transaction.atomic():
            topic = Topic.objects.create(name=spec.name, **_spec_values(spec))
    except IntegrityError as exc:  # created meanwhile by another request
        raise TopologyNameTakenError(f"A topic named {spec.name!r} exists already.") from exc
    audit.record(actor, audit.AuditAction.TOPIC_CREATE, objects={"topic": topic.name}, count=1)
    return topic


@transaction.atomic
def topic_update(*, topic: Topic, changes: dict[str, Any], actor: audit.Actor = audit.PYTHON_CODE) -> Topic:
    """Change a topic's description or unroutable policy (a topic is known by its name, which stays)."""
    spec = replace(topic_spec(topic), **changes)
    _check_topic(spec)
    for key, value in _spec_values(spec).items():
        setattr(topic, key, value)
    topic.save()
    audit.record(actor, audit.AuditAction.TOPIC_UPDATE, objects={"topic": topic.name, "changes": changes}, count=1)
    return topic


@transaction.atomic
def topic_delete(*, topic: Topic, actor: audit.Actor = audit.PYTHON_CODE) -> None:
    """Delete a topic that has no subscriptions and no messages left (as `sync_topology --prune`)."""
    if topic.subscriptions.exists():
        names = ", ".join(topic.subscriptions.values_list("name", flat=True))
        raise TopicInUseError(f"Topic {topic.name} still has subscriptions ({names}); delete them first.")
    if topic.messages.exists():
        raise TopicInUseError(f"Topic {topic.name} still has messages; it cannot be deleted.")
    audit.record(actor, audit.AuditAction.TOPIC_DELETE, objects={"topic": topic.name}, count=1)
    topic.delete()


def subscription_create(*, spec: SubscriptionSpec, actor: audit.Actor = audit.PYTHON_CODE) -> Subscription:
    """Create a subscription as topology.yaml would declare it; a paused one starts paused.

    A webhook subscription without `webhook_secrets_env` gets the default name, which the
    export writes (the secrets themselves are stored, never exported).
    """
    if spec.consumer_kind == ConsumerKind.WEBHOOK and not spec.webhook_secrets_env:
        spec = replace(spec, webhook_secrets_env=default_secrets_env(spec.name))
    with transaction.atomic():
        topic = _check_subscription(spec)
        if Subscription.objects.filter(name=spec.name).exists():
            raise TopologyNameTakenError(f"A subscription named {spec.name!r} exists already.")
        try:
            with transaction.atomic():
                subscription = Subscription.objects.create(
                    name=spec.name, topic=topic, **{**_spec_values(spec), "paused": False}
                )
        except IntegrityError as exc:
            raise TopologyNameTakenError(f"A subscription named {spec.name!r} exists already.") from exc
        audit.record(actor, audit.AuditAction.SUBSCRIPTION_CREATE, objects={"subscription": spec.name}, count=1)
    if spec.paused:
        services.subscription_pause(subscription=subscription, actor=actor)
    return subscription


def subscription_update(
    *, subscription: Subscription, changes: dict[str, Any], actor: audit.Actor = audit.PYTHON_CODE
) -> Subscription:
    """Change some of a subscription's fields (not its name); pause or resume it if `paused` changes."""
    spec = replace(subscription_spec(subscription), **changes)
    with transaction.atomic():
        topic = _check_subscription(spec)
        subscription.topic = topic
        for key, value in _spec_values(spec).items():
            if key != "paused":
                setattr(subscription, key, value)
        subscription.save()
        targets = {"subscription": subscription.name, "changes": {k: v for k, v in changes.items() if k != "paused"}}
        audit.record(actor, audit.AuditAction.SUBSCRIPTION_UPDATE, objects=targets, count=1)
    if spec.paused != subscription.paused:
        switch = services.subscription_pause if spec.paused else services.subscription_resume
        switch(subscription=subscription, actor=actor)
    return subscription


def subscription_delete(*, subscription: Subscription, actor: audit.Actor = audit.PYTHON_CODE) -> None:
    """Delete a subscription with its deliveries and dead letters (as `sync_topology --prune`)."""
    with transaction.atomic():
        audit.record(actor, audit.AuditAction.SUBSCRIPTION_DELETE, objects={"subscription": subscription.name}, count=1)
        subscription.delete()


def subscription_spec_new(values: dict[str, Any]) -> SubscriptionSpec:
    """Build the spec of a new subscription from the given fields, with the file's defaults.

    As in topology.yaml, a Python subscription's handler defaults to its name.
    """
    kind = values.get("consumer_kind", ConsumerKind.PYTHON.value)
    handler = values.get("handler", values["name"] if kind == ConsumerKind.PYTHON else "")
    return SubscriptionSpec(**{**values, "handler": handler})
