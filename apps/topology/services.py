"""Write the declared topology to the database."""

from dataclasses import asdict, dataclass, field

from django.db import transaction
from django.utils import timezone

from apps.accounts import audit
from apps.core.errors import SwitchboardError
from apps.topology import workers
from apps.topology.loader import TopologySpec
from apps.topology.models import Subscription, Topic


@dataclass
class SyncReport:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    not_declared: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)


class TopologyPruneError(SwitchboardError):
    """A topic that is no longer declared still has messages or subscriptions."""

    status = 409
    code = "topology-prune-refused"
    title = "Topology prune refused"


@transaction.atomic
def topology_sync(
    *, spec: TopologySpec, prune: bool = False, apply_paused: bool = False, actor: audit.Actor = audit.PYTHON_CODE
) -> SyncReport:
    """Create and update topics and subscriptions as declared; all or nothing.

    Entries in the database but not in `spec` are reported, and deleted with `prune`
    (a subscription's deliveries go with it; a topic that still has messages stays).

    `paused` is runtime state that operators change (API, admin, command), so a sync
    leaves it alone on an existing subscription: only with `apply_paused`, and only for
    a subscription whose entry sets `paused`, does the file's value win. A subscription
    the sync creates starts paused if its entry says so. Workers follow the flag by
    themselves (apps.topology.workers).

    A sync that changed anything is recorded in the audit log, naming the changes.
    """
    report = SyncReport()
    topics = {}
    for topic_spec in spec.topics:
        values = asdict(topic_spec)
        values.pop("name")
        topic, outcome = _upsert(Topic, topic_spec.name, values)
        topics[topic.name] = topic
        getattr(report, outcome).append(f"topic {topic.name}")
    for sub_spec in spec.subscriptions:
        values = asdict(sub_spec)
        values.pop("name")
        values["topic"] = topics[values["topic"]]
        declared_paused = values.pop("paused")
        exists = Subscription.objects.filter(name=sub_spec.name).exists()
        if declared_paused is not None and (apply_paused or not exists):
            values["paused"] = declared_paused
        _, outcome = _upsert(Subscription, sub_spec.name, values)
        getattr(report, outcome).append(f"subscription {sub_spec.name}")

    stale_subscriptions = Subscription.objects.exclude(name__in=[s.name for s in spec.subscriptions])
    stale_topics = Topic.objects.exclude(name__in=[t.name for t in spec.topics])
    report.not_declared = [f"subscription {s.name}" for s in stale_subscriptions] + [
        f"topic {t.name}" for t in stale_topics
    ]
    if prune:
        for subscription in stale_subscriptions:
            subscription.delete()
            report.deleted.append(f"subscription {subscription.name}")
        for topic in stale_topics:
            if topic.messages.exists():
                raise TopologyPruneError(f"topic {topic.name} still has messages; it cannot be deleted")
            topic.delete()
            report.deleted.append(f"topic {topic.name}")
        report.not_declared = []
    changes = {"created": report.created, "updated": report.updated, "deleted": report.deleted}
    count = sum(len(names) for names in changes.values())
    if count:
        audit.record(actor, audit.AuditAction.TOPOLOGY_SYNC, objects=changes, count=count)
    return report


def _upsert(
    model: type[Topic] | type[Subscription], name: str, values: dict[str, object]
) -> tuple[Topic | Subscription, str]:
    instance = model.objects.filter(name=name).first()
    if instance is None:
        return model.objects.create(name=name, **values), "created"
    changed = [key for key, value in values.items() if getattr(instance, key) != value]
    if not changed:
        return instance, "unchanged"
    for key in changed:
        setattr(instance, key, values[key])
    instance.save()
    return instance, "updated"


def subscription_pause(*, subscription: Subscription, actor: audit.Actor = audit.PYTHON_CODE) -> int | None:
    """Stop delivering the subscription's messages, which accumulate in its queue.

    The flag is saved first (with its audit row): it is the truth, which every worker
    follows within SWITCHBOARD_PAUSE_RECONCILE_SECONDS. Return how many running workers
    confirmed the broadcast that makes them follow at once, or None when Redis was unreachable.
    """
    with transaction.atomic():
        Subscription.objects.filter(pk=subscription.pk).update(paused=True, updated_at=timezone.now())
        audit.record(actor, audit.AuditAction.SUBSCRIPTION_PAUSE, objects={"subscription": subscription.name}, count=1)
    subscription.paused = True
    return workers.workers_stop_consuming(queue=subscription.queue)


def subscription_resume(*, subscription: Subscription, actor: audit.Actor = audit.PYTHON_CODE) -> int | None:
    """Deliver the subscription's messages again; return how many running workers confirmed (None: see above)."""
    with transaction.atomic():
        Subscription.objects.filter(pk=subscription.pk).update(paused=False, updated_at=timezone.now())
        audit.record(actor, audit.AuditAction.SUBSCRIPTION_RESUME, objects={"subscription": subscription.name}, count=1)
    subscription.paused = False
    return workers.workers_start_consuming(queue=subscription.queue)
