"""Tests for apps.accounts.services: creating, checking, revoking and ensuring API keys."""

import hashlib

import pytest
from django.db import IntegrityError

from apps.accounts.models import ApiKey
from apps.accounts.services import (
    InvalidApiKeyError,
    api_key_authenticate,
    api_key_create,
    api_key_ensure,
    api_key_revoke,
)

pytestmark = pytest.mark.django_db


def test_create_returns_the_raw_key_and_stores_only_its_hash() -> None:
    api_key, raw_key = api_key_create(name="orders-service")

    marker, prefix, secret = raw_key.split("_", 2)
    assert marker == "sb"
    assert len(prefix) == 12
    assert len(secret) >= 43
    stored = ApiKey.objects.get()
    assert stored == api_key
    assert (stored.name, stored.prefix, stored.revoked_at) == ("orders-service", prefix, None)
    assert stored.secret_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert secret not in stored.secret_hash
    assert stored.is_active is True


def test_created_keys_always_authenticate() -> None:
    # The secret is URL-safe base64, which may contain '_' (about half of all keys).
    raw_keys = [api_key_create(name=f"key-{n}")[1] for n in range(40)]
    assert [api_key_authenticate(raw_key=raw_key).name for raw_key in raw_keys] == [f"key-{n}" for n in range(40)]
    assert len(set(raw_keys)) == 40


def test_create_with_a_chosen_key_stores_its_prefix_and_hash() -> None:
    api_key, raw_key = api_key_create(name="ops", raw_key="sb_chosen_my_secret")
    assert raw_key == "sb_chosen_my_secret"
    assert api_key.prefix == "chosen"
    assert api_key.secret_hash == hashlib.sha256(b"my_secret").hexdigest()
    assert api_key_authenticate(raw_key="sb_chosen_my_secret") == api_key


@pytest.mark.parametrize("raw_key", ["", "sb", "sb_", "sb_prefix", "sb_prefix_", "sb__secret", "xx_prefix_secret"])
def test_create_refuses_a_malformed_chosen_key(raw_key: str) -> None:
    with pytest.raises(InvalidApiKeyError, match=r"^API keys look like sb_<prefix>_<secret>\.$"):
        api_key_create(name="ops", raw_key=raw_key)
    assert ApiKey.objects.count() == 0


def test_create_refuses_a_second_key_with_the_same_name() -> None:
    api_key_create(name="ops")
    with pytest.raises(IntegrityError):
        api_key_create(name="ops")


def test_authenticate_returns_the_matching_key() -> None:
    api_key, raw_key = api_key_create(name="a")
    api_key_create(name="b")
    assert api_key_authenticate(raw_key=raw_key) == api_key


def test_authenticate_rejects_a_wrong_secret() -> None:
    _, raw_key = api_key_create(name="a")
    with pytest.raises(InvalidApiKeyError, match=r"^Unknown or revoked API key\.$"):
        api_key_authenticate(raw_key=raw_key + "x")


def test_authenticate_rejects_an_unknown_prefix() -> None:
    api_key_create(name="a", raw_key="sb_known_secret")
    with pytest.raises(InvalidApiKeyError, match=r"^Unknown or revoked API key\.$"):
        api_key_authenticate(raw_key="sb_unknown_secret")


@pytest.mark.parametrize("raw_key", ["", "Bearer", "sb_onlyprefix", "sb__secret", "sk_prefix_secret", "sb_prefix_"])
def test_authenticate_rejects_a_malformed_key(raw_key: str) -> None:
    api_key_create(name="a")
    with pytest.raises(InvalidApiKeyError, match=r"^API keys look like sb_<prefix>_<secret>\.$"):
        api_key_authenticate(raw_key=raw_key)


def test_revoked_key_is_rejected() -> None:
    api_key, raw_key = api_key_create(name="a")
    api_key_revoke(api_key=api_key)

    api_key.refresh_from_db()
    assert api_key.revoked_at is not None
    assert api_key.is_active is False
    with pytest.raises(InvalidApiKeyError, match=r"^Unknown or revoked API key\.$"):
        api_key_authenticate(raw_key=raw_key)


def test_ensure_creates_a_missing_key_and_returns_its_raw_form() -> None:
    api_key, raw_key = api_key_ensure(name="local")
    assert raw_key is not None
    assert api_key_authenticate(raw_key=raw_key) == api_key
    assert ApiKey.objects.count() == 1


def test_ensure_creates_a_missing_key_from_the_given_raw_key() -> None:
    api_key, raw_key = api_key_ensure(name="local", raw_key="sb_given_secret")
    assert raw_key == "sb_given_secret"
    assert api_key.prefix == "given"
    assert api_key_authenticate(raw_key="sb_given_secret") == api_key


def test_ensure_returns_an_existing_key_without_its_secret() -> None:
    created, raw_key = api_key_create(name="local")
    ensured, known = api_key_ensure(name="local")
    assert ensured == created
    assert known is None
    assert api_key_authenticate(raw_key=raw_key) == created
    assert ApiKey.objects.count() == 1


def test_ensure_with_a_given_key_replaces_the_secret_and_unrevokes() -> None:
    created, old_raw_key = api_key_create(name="local")
    api_key_revoke(api_key=created)

    ensured, known = api_key_ensure(name="local", raw_key="sb_replaced_newsecret")

    assert known == "sb_replaced_newsecret"
    assert ensured.pk == created.pk
    stored = ApiKey.objects.get()
    assert (stored.prefix, stored.revoked_at) == ("replaced", None)
    assert stored.secret_hash == hashlib.sha256(b"newsecret").hexdigest()
    assert api_key_authenticate(raw_key="sb_replaced_newsecret") == stored
    with pytest.raises(InvalidApiKeyError):
        api_key_authenticate(raw_key=old_raw_key)


def test_ensure_refuses_a_malformed_given_key_and_keeps_the_old_one() -> None:
    created, raw_key = api_key_create(name="local")
    with pytest.raises(InvalidApiKeyError):
        api_key_ensure(name="local", raw_key="not-a-key")
    assert api_key_authenticate(raw_key=raw_key) == created
