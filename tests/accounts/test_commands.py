"""api_key_create, api_key_list and api_key_revoke."""

import datetime
import io

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from apps.accounts.models import ApiKey
from apps.accounts.services import InvalidApiKeyError, api_key_authenticate

pytestmark = pytest.mark.django_db


def _run(*args: str) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_create_prints_a_working_key_with_its_scopes_topics_and_expiry() -> None:
    raw_key = _run(
        "api_key_create", "--name", "orders", "--scopes", "read,publish", "--topics", "orders.*", "--expires", "90d"
    ).strip()

    key = api_key_authenticate(raw_key=raw_key)
    assert (key.name, key.scopes, key.topic_patterns) == ("orders", ["publish", "read"], ["orders.*"])
    assert key.expires_at is not None
    assert abs(key.expires_at - (timezone.now() + datetime.timedelta(days=90))) < datetime.timedelta(minutes=1)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--scopes", "publish,fly"], "Unknown scope fly; the scopes are publish, read, replay, purge, admin."),
        (["--scopes", "read", "--topics", "Orders/*"], "Topic pattern 'Orders/*': use lower-case letters"),
        (["--scopes", "read", "--expires", "soon"], "'soon' is not a duration; write a number and h, d or w"),
    ],
)
def test_create_refuses_bad_arguments_in_one_line(args: list[str], message: str) -> None:
    with pytest.raises(CommandError) as info:
        _run("api_key_create", "--name", "x", *args)
    assert str(info.value).startswith(message)
    assert not ApiKey.objects.exists()


def test_list_shows_every_key_without_secrets_and_revoke_ends_one() -> None:
    raw_key = _run("api_key_create", "--name", "orders", "--scopes", "publish", "--topics", "orders.*").strip()
    _run("api_key_create", "--name", "ops", "--scopes", "admin", "--expires", "1h")

    assert _run("api_key_revoke", "orders") == "Revoked the API key 'orders'.\n"

    lines = _run("api_key_list").splitlines()
    assert lines[0].split() == ["NAME", "PREFIX", "SCOPES", "TOPICS", "EXPIRES", "STATE"]
    ops, orders = (line.split() for line in lines[1:])
    assert (orders[0], orders[2:4], orders[4:]) == ("orders", ["publish", "orders.*"], ["-", "revoked"])
    assert (ops[0], ops[2:4], ops[5]) == ("ops", ["admin", "*"], "active")
    assert raw_key.split("_", 2)[2] not in "\n".join(lines)
    with pytest.raises(InvalidApiKeyError):
        api_key_authenticate(raw_key=raw_key)


def test_revoking_an_unknown_key_is_one_line() -> None:
    with pytest.raises(CommandError, match=r"^There is no API key named 'ghost'\.$"):
        _run("api_key_revoke", "ghost")


def test_an_expired_key_no_longer_authenticates() -> None:
    raw_key = _run("api_key_create", "--name", "temp", "--scopes", "read", "--expires", "1h").strip()
    ApiKey.objects.update(expires_at=timezone.now() - datetime.timedelta(seconds=1))

    with pytest.raises(InvalidApiKeyError, match="expired"):
        api_key_authenticate(raw_key=raw_key)
