"""Create, find and revoke API keys."""

import hashlib
import hmac
import secrets
from collections.abc import Iterable
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from apps.accounts.models import ApiKey
from apps.accounts.scopes import scopes_parse
from apps.core.errors import SwitchboardError

KEY_PREFIX = "sb"


class InvalidApiKeyError(SwitchboardError):
    """The key is malformed, unknown or revoked.

    The API's authentication answers it as DRF's AuthenticationFailed, with the same
    status, type and title, and the Bearer challenge.
    """

    status = 401
    code = "authentication-failed"
    title = "Incorrect authentication credentials"


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _split(raw_key: str) -> tuple[str, str]:
    parts = raw_key.split("_", 2)
    if len(parts) != 3 or parts[0] != KEY_PREFIX or not parts[1] or not parts[2]:
        raise InvalidApiKeyError("API keys look like sb_<prefix>_<secret>.")
    return parts[1], parts[2]


def api_key_generate() -> str:
    """Return a new random raw key: sb_<public prefix>_<secret>."""
    return f"{KEY_PREFIX}_{secrets.token_hex(6)}_{secrets.token_urlsafe(32)}"


def api_key_create(
    *,
    name: str,
    scopes: Iterable[str] = (),
    topic_patterns: Iterable[str] = (),
    expires_at: datetime | None = None,
    raw_key: str | None = None,
) -> tuple[ApiKey, str]:
    """Create a key named `name` and return it with the raw key, shown only this once.

    A key may do nothing until given `scopes`; `topic_patterns` (globs) limit the topics
    it reaches (none: every topic). `raw_key` lets an operator choose the key (it must
    have the sb_<prefix>_<secret> form).
    """
    if raw_key is None:
        raw_key = api_key_generate()
    prefix, secret = _split(raw_key)
    api_key = ApiKey.objects.create(
        name=name,
        prefix=prefix,
        secret_hash=_hash(secret),
        scopes=scopes_parse(scopes),
        topic_patterns=list(topic_patterns),
        expires_at=expires_at,
    )
    return api_key, raw_key


def api_key_ensure(*, name: str, raw_key: str | None = None, scopes: Iterable[str] = ()) -> tuple[ApiKey, str | None]:
    """Return the key named `name` with `scopes`, creating it (or replacing its secret with `raw_key`).

    The raw key is returned when it is known (created now or given); an existing key's
    secret cannot be recovered.
    """
    with transaction.atomic():
        existing = ApiKey.objects.select_for_update().filter(name=name).first()
        if existing is None:
            return api_key_create(name=name, raw_key=raw_key, scopes=scopes)
        existing.scopes = scopes_parse(scopes)
        if raw_key is None:
            existing.save(update_fields=["scopes"])
            return existing, None
        prefix, secret = _split(raw_key)
        existing.prefix, existing.secret_hash, existing.revoked_at = prefix, _hash(secret), None
        existing.save(update_fields=["prefix", "secret_hash", "revoked_at", "scopes"])
        return existing, raw_key


def api_key_authenticate(*, raw_key: str) -> ApiKey:
    """Return the active key matching `raw_key`, or raise InvalidApiKeyError."""
    prefix, secret = _split(raw_key)
    api_key = ApiKey.objects.filter(prefix=prefix, revoked_at__isnull=True).first()
    if api_key is None or not hmac.compare_digest(api_key.secret_hash, _hash(secret)):
        raise InvalidApiKeyError("Unknown or revoked API key.")
    if api_key.expires_at is not None and api_key.expires_at <= timezone.now():
        raise InvalidApiKeyError("The API key has expired.")
    return api_key


def api_key_revoke(*, api_key: ApiKey) -> None:
    api_key.revoked_at = timezone.now()
    api_key.save(update_fields=["revoked_at"])
