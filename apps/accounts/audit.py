"""The audit log: every operator action records who did it, what, on which objects, how many and from where.

Services call `record` inside the transaction of the action, so the row and the change
commit (or roll back) together; an action done in chunks records once and adds each
chunk's count with `add`, in that chunk's transaction. Interfaces build the `Actor`:
an API key (`Actor.from_request`), an admin user (`Actor.from_admin`), a management
command (`Actor.from_command`: the OS user); Python code calling a service directly
is `PYTHON_CODE`.
"""

import getpass
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.db.models import F

from apps.accounts.models import ApiKey, AuditEvent

# Beyond this many ids the audit row keeps the first ones and says how many there were.
MAX_IDS_KEPT = 1000


class AuditAction:
    DEAD_LETTERS_REPLAY = "dead_letters.replay"
    DEAD_LETTERS_PURGE = "dead_letters.purge"
    MESSAGE_CANCEL = "message.cancel"
    SUBSCRIPTION_PAUSE = "subscription.pause"
    SUBSCRIPTION_RESUME = "subscription.resume"
    TOPOLOGY_SYNC = "topology.sync"
    TOPIC_CREATE = "topic.create"
    TOPIC_UPDATE = "topic.update"
    TOPIC_DELETE = "topic.delete"
    SUBSCRIPTION_CREATE = "subscription.create"
    SUBSCRIPTION_UPDATE = "subscription.update"
    SUBSCRIPTION_DELETE = "subscription.delete"
    API_KEY_CREATE = "api_key.create"
    API_KEY_REVOKE = "api_key.revoke"
    MESSAGE_CANCEL = "message.cancel"


@dataclass(frozen=True)
class Actor:
    kind: str
    name: str
    ip: str | None = None

    @classmethod
    def from_request(cls, request: Any) -> "Actor":
        """The API key of a DRF request, and the client's address."""
        api_key = request.auth
        name = api_key.name if isinstance(api_key, ApiKey) else "anonymous"
        return cls("api_key", name, _client_ip(request))

    @classmethod
    def from_admin(cls, request: Any) -> "Actor":
        return cls("admin", request.user.get_username(), _client_ip(request))

    @classmethod
    def from_command(cls) -> "Actor":
        try:
            user = getpass.getuser()
        except (OSError, KeyError):  # no name for this uid (a container's)
            user = "unknown"
        return cls("command", user)


PYTHON_CODE = Actor("code", "python")


def _client_ip(request: Any) -> str | None:
    # REMOTE_ADDR: the peer. Behind a proxy, have it set REMOTE_ADDR (gunicorn's forwarded_allow_ips).
    return request.META.get("REMOTE_ADDR") or None


def ids_objects(ids: list[int] | list[str]) -> dict[str, Any]:
    """Describe a selection by ids for `objects` (at most MAX_IDS_KEPT of them kept)."""
    kept: dict[str, Any] = {"ids": list(ids[:MAX_IDS_KEPT])}
    if len(ids) > MAX_IDS_KEPT:
        kept["ids_total"] = len(ids)
    return kept


def record(actor: Actor, action: str, *, objects: Mapping[str, Any] | None = None, count: int = 0) -> AuditEvent:
    """Write one audit row (call it inside the action's transaction)."""
    return AuditEvent.objects.create(
        actor_kind=actor.kind,
        actor_name=actor.name,
        ip=actor.ip,
        action=action,
        targets=dict(objects or {}),
        count=count,
    )


def add(event: AuditEvent, count: int) -> None:
    """Add `count` to a recorded action done in chunks (inside the chunk's transaction)."""
    AuditEvent.objects.filter(pk=event.pk).update(count=F("count") + count)
    event.count += count
