"""Retention: every app registers what may be deleted and when; beat deletes it in bounded chunks.

A policy names a model and a `due(now)` query of the rows that may go at `now`, oldest
first, which an index serves (no full-table scan per run), and which never includes an
open row (each app's query excludes them: a pending or retrying delivery's message, a
dead letter inside its retention). `retention_run` deletes one chunk per transaction
(no long lock, and other writers interleave between chunks) and stops after
`max_chunks` chunks, so one beat run is bounded; the next run goes on where it stopped.

Apps register their policies in `AppConfig.ready()` (publishing: messages with their
deliveries and attempts, idempotency keys; deadletters: dead letters). `manage.py
retention --dry-run` counts what would go.
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from django.db import models, transaction
from django.utils import timezone

DEFAULT_CHUNK_SIZE = 500
DEFAULT_MAX_CHUNKS = 20


@dataclass(frozen=True)
class RetentionPolicy:
    name: str
    model: type[models.Model]
    # The rows that may be deleted at `now`, oldest first; served by an index.
    due: Callable[[datetime], "models.QuerySet[models.Model]"]
    # What goes, for people: "finished messages published over 7 days ago".
    description: str
    chunk_size: int = DEFAULT_CHUNK_SIZE


_policies: dict[str, RetentionPolicy] = {}


def retention_register(policy: RetentionPolicy) -> None:
    """Register (or replace) a policy under its name."""
    _policies[policy.name] = policy


def retention_policies() -> list[RetentionPolicy]:
    return list(_policies.values())


def retention_policy(name: str) -> RetentionPolicy:
    return _policies[name]


def retention_count(policy: RetentionPolicy, *, now: datetime | None = None) -> int:
    """Count the rows the policy would delete now."""
    return policy.due(now or timezone.now()).count()


def retention_chunk(policy: RetentionPolicy, *, now: datetime) -> int:
    """Delete one chunk of due rows (with what cascades from them) in one transaction; return how many.

    The chunk's rows are chosen and deleted in one transaction, and the delete repeats
    the policy's conditions, so a row that became open meanwhile stays.
    """
    with transaction.atomic():
        ids = list(policy.due(now).values_list("pk", flat=True)[: policy.chunk_size])
        if not ids:
            return 0
        policy.due(now).filter(pk__in=ids).delete()
    return len(ids)


def retention_run(
    policy: RetentionPolicy,
    *,
    now: datetime | None = None,
    max_chunks: int | None = DEFAULT_MAX_CHUNKS,
    on_chunk: Callable[[int], None] | None = None,
) -> int:
    """Delete the policy's due rows chunk by chunk, at most `max_chunks` chunks (None: all); return how many.

    `on_chunk` is told each chunk's count (a progress bar).
    """
    now = now or timezone.now()
    deleted = chunks = 0
    while max_chunks is None or chunks < max_chunks:
        count = retention_chunk(policy, now=now)
        if not count:
            break
        deleted += count
        chunks += 1
        if on_chunk is not None:
            on_chunk(count)
        if count < policy.chunk_size:
            break
    return deleted
