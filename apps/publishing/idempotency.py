"""Idempotency keys on publish, with Stripe's semantics.

The first request with a key claims it (committed at once, state in-flight), publishes,
and stores its response with the message in one transaction. A repeat with the same key
and the same request gets that response back and publishes nothing; the same key with a
different request is refused (422); a repeat while the first is still running is
refused (409) and may be retried. Keys are scoped to their API key (or to Python
callers) and expire after SWITCHBOARD_IDEMPOTENCY_TTL_SECONDS; beat deletes the
expired ones (apps.publishing.retention).

A publish that fails validation stores nothing: the key stays free to use again with
a corrected request, as with Stripe.
"""

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import orjson
from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from apps.publishing.errors import InvalidMessageError, PublishError
from apps.publishing.models import IdempotencyKey, IdempotencyState, Message

PYTHON_SCOPE = "python"
MAX_KEY_LENGTH = 255
# A claim older than this whose request never finished (its process died) is taken over.
ABANDONED_AFTER = timedelta(seconds=60)


class IdempotencyKeyReusedError(PublishError):
    """The key was used before with a different request."""

    status = 422
    code = "idempotency-key-reused"
    title = "Idempotency key reused"


class IdempotencyKeyInFlightError(PublishError):
    """A request with this key is still being processed; retrying in a moment may succeed."""

    status = 409
    code = "idempotency-key-in-flight"
    title = "Idempotency key in flight"

    def problem_headers(self) -> dict[str, str]:
        return {"Retry-After": "1"}


@dataclass(frozen=True)
class Receipt:
    """What a publish answered: the body, and whether it is a replay of an earlier answer."""

    body: dict[str, Any]
    replayed: bool


def api_scope(api_key_id: int) -> str:
    return f"api:{api_key_id}"


def message_receipt(message: Message) -> dict[str, Any]:
    """Describe a published message as the publish API answers it."""
    published_at = message.published_at.isoformat().replace("+00:00", "Z")
    return {"id": str(message.id), "topic": message.topic.name, "published_at": published_at}


def request_hash(fields: dict[str, Any]) -> str:
    canonical = orjson.dumps(fields, option=orjson.OPT_SORT_KEYS, default=str)
    return hashlib.sha256(canonical).hexdigest()


def idempotency_key_claim(*, scope: str, key: str, fields: dict[str, Any]) -> IdempotencyKey | Receipt:
    """Claim the key for this request (`fields`: publish()'s arguments), or return the receipt of an earlier one.

    The claim commits at once. Raise IdempotencyKeyReusedError or IdempotencyKeyInFlightError for
    a key used with another request or still being processed.
    """
    if not isinstance(key, str) or not key or len(key) > MAX_KEY_LENGTH or "\x00" in key:
        raise InvalidMessageError(
            f"The idempotency key must be 1 to {MAX_KEY_LENGTH} characters.", field="idempotency_key"
        )
    return _claim(scope=scope, key=key, digest=request_hash(fields))


def idempotently(*, scope: str, key: str, fields: dict[str, Any], run: Callable[[], dict[str, Any]]) -> Receipt:
    """Run `run` (a publish, single or batch, returning its answer) once per (scope, key) and request.

    The key is claimed (committed at once) before `run`, and its answer is stored in
    `run`'s transaction, with the messages; a repeat of the same request gets that answer
    back and runs nothing. A `run` that fails frees the key again.
    """
    claim = idempotency_key_claim(scope=scope, key=key, fields=fields)
    if isinstance(claim, Receipt):
        return claim
    try:
        with transaction.atomic():
            body = run()
            idempotency_key_complete(claim=claim, body=body)
    except BaseException:
        idempotency_key_release(claim=claim)
        raise
    return Receipt(body=body, replayed=False)


def idempotency_key_complete(*, claim: IdempotencyKey, body: dict[str, Any]) -> None:
    """Store the receipt of the publish that claimed the key (in the publish's transaction)."""
    IdempotencyKey.objects.filter(pk=claim.pk).update(
        state=IdempotencyState.COMPLETED, response_status=202, response_body=body
    )


def idempotency_key_release(*, claim: IdempotencyKey) -> None:
    """Free a key whose publish failed, so that a corrected request may use it."""
    IdempotencyKey.objects.filter(pk=claim.pk, state=IdempotencyState.IN_FLIGHT).delete()


def _claim(*, scope: str, key: str, digest: str) -> IdempotencyKey | Receipt:
    """Claim the key for this request, or return the stored receipt of an earlier one."""
    now = timezone.now()
    expires_at = now + timedelta(seconds=settings.SWITCHBOARD_IDEMPOTENCY_TTL_SECONDS)
    for _ in range(3):
        try:
            with transaction.atomic():
                return IdempotencyKey.objects.create(scope=scope, key=key, request_hash=digest, expires_at=expires_at)
        except IntegrityError:
            existing = IdempotencyKey.objects.filter(scope=scope, key=key).first()
        if existing is None:
            continue  # deleted meanwhile (failed or expired): claim again
        if existing.expires_at <= now or (
            existing.state == IdempotencyState.IN_FLIGHT and existing.created_at <= now - ABANDONED_AFTER
        ):
            IdempotencyKey.objects.filter(pk=existing.pk, created_at=existing.created_at).delete()
            continue
        if existing.request_hash != digest:
            raise IdempotencyKeyReusedError(f"The idempotency key {key!r} was used with a different request.")
        if existing.state == IdempotencyState.IN_FLIGHT:
            raise IdempotencyKeyInFlightError(f"A request with the idempotency key {key!r} is still being processed.")
        return Receipt(body=existing.response_body or {}, replayed=True)
    raise IdempotencyKeyInFlightError(f"A request with the idempotency key {key!r} is still being processed.")
