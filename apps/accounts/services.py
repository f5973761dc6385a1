"""Create, find and revoke API keys."""

import hashlib
import hmac
import re
import secrets
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone

from apps.accounts import audit
from apps.accounts.models import ApiKey
from apps.accounts.scopes import scopes_parse
from apps.accounts.topics import topic_patterns_parse
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


class WeakApiKeyError(SwitchboardError):
    """An operator-chosen key does not have the sb_<prefix>_<secret> form or enough entropy."""

    status = 400
    code = "weak-api-key"
    title = "The API key is malformed or guessable"


class InvalidDurationError(SwitchboardError):
    status = 400
    code = "invalid-duration"
    title = "Invalid duration"


# sb_<1-16 letters or digits>_<at least 32 URL-safe characters>, as api_key_generate makes them.
CHOSEN_KEY_RE = re.compile(r"sb_[A-Za-z0-9]{1,16}_[A-Za-z0-9_-]{32,200}")
CHOSEN_KEY_FORM = "sb_<prefix>_<secret>: a prefix of 1-16 letters or digits, a secret of 32+ random URL-safe characters"
DURATION_RE = re.compile(r"(\d{1,5})([hdw])")
DURATION_UNITS = {"h": timedelta(hours=1), "d": timedelta(days=1), "w": timedelta(weeks=1)}


def api_key_check_chosen(*, raw_key: str) -> None:
    """Refuse an operator-chosen key that is malformed or guessable (too short, too few distinct characters)."""
    secret = raw_key.split("_", 2)[-1]
    if not CHOSEN_KEY_RE.fullmatch(raw_key) or len(set(secret)) < 16:
        raise WeakApiKeyError(f"expected {CHOSEN_KEY_FORM} (e.g. from `manage.py api_key_create`).")


def duration_parse(text: str) -> timedelta:
    """Read a duration like `12h`, `90d` or `4w`."""
    match = DURATION_RE.fullmatch(text.strip())
    if match is None:
        raise InvalidDurationError(f"{text!r} is not a duration; write a number and h, d or w (e.g. 90d).")
    return int(match.group(1)) * DURATION_UNITS[match.group(2)]


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
    actor: audit.Actor = audit.PYTHON_CODE,
) -> tuple[ApiKey, str]:
    """Create a key named `name` and return it with the raw key, shown only this once.

    A key may do nothing until given `scopes`; `topic_patterns` (globs) limit the topics
    it reaches (none: every topic). `raw_key` lets an operator choose the key (it must
    have the sb_<prefix>_<secret> form).
    """
    if raw_key is None:
        raw_key = api_key_generate()
    prefix, secret = _split(raw_key)
    with transaction.atomic():
        api_key = ApiKey.objects.create(
            name=name,
            prefix=prefix,
            secret_hash=_hash(secret),
            scopes=scopes_parse(scopes),
            topic_patterns=topic_patterns_parse(topic_patterns),
            expires_at=expires_at,
        )
        audit.record(actor, audit.AuditAction.API_KEY_CREATE, objects=_key_targets(api_key), count=1)
    return api_key, raw_key


def _key_targets(api_key: ApiKey) -> dict[str, Any]:
    return {"name": api_key.name, "prefix": api_key.prefix, "scopes": api_key.scopes, "topics": api_key.topic_patterns}


def api_key_ensure(
    *, name: str, raw_key: str | None = None, scopes: Iterable[str] = (), actor: audit.Actor = audit.PYTHON_CODE
) -> tuple[ApiKey, str | None]:
    """Return the key named `name` with `scopes`, creating it (or replacing its secret with `raw_key`).

    The raw key is returned when it is known (created now or given); an existing key's
    secret cannot be recovered.
    """
    with transaction.atomic():
        existing = ApiKey.objects.select_for_update().filter(name=name).first()
        if existing is None:
            return api_key_create(name=name, raw_key=raw_key, scopes=scopes, actor=actor)
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


def api_key_revoke(*, api_key: ApiKey, actor: audit.Actor = audit.PYTHON_CODE) -> None:
    with transaction.atomic():
        api_key.revoked_at = timezone.now()
        api_key.save(update_fields=["revoked_at"])
        audit.record(actor, audit.AuditAction.API_KEY_REVOKE, objects=_key_targets(api_key), count=1)


class UnknownApiKeyError(SwitchboardError):
    status = 404
    code = "unknown-api-key"
    title = "Unknown API key"


def api_key_get(*, name: str) -> ApiKey:
    """Return the key named `name`, or raise UnknownApiKeyError."""
    api_key = ApiKey.objects.filter(name=name).first()
    if api_key is None:
        raise UnknownApiKeyError(f"There is no API key named {name!r}.")
    return api_key
