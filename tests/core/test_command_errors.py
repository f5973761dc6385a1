"""Management commands report Switchboard's errors as one line (CommandError), never a traceback."""

import io
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from apps.core import readiness
from apps.core.management.base import SwitchboardCommand
from apps.topology.selectors import UnknownSubscriptionError
from tests.factories import SubscriptionFactory


class FailingCommand(SwitchboardCommand):
    def handle(self, *args: Any, **options: Any) -> None:
        raise UnknownSubscriptionError("nope")


def test_a_switchboard_error_becomes_a_command_error_with_its_message() -> None:
    with pytest.raises(CommandError) as info:
        call_command(FailingCommand())
    assert str(info.value) == "There is no subscription named 'nope'."
    assert isinstance(info.value.__cause__, UnknownSubscriptionError)


def test_other_errors_pass_unchanged() -> None:
    class BrokenCommand(SwitchboardCommand):
        def handle(self, *args: Any, **options: Any) -> None:
            raise KeyError("bug")

    with pytest.raises(KeyError):
        call_command(BrokenCommand())


@pytest.mark.django_db
@pytest.mark.parametrize("action", ["pause", "resume"])
def test_subscription_of_an_unknown_name_is_a_command_error(action: str) -> None:
    SubscriptionFactory.create(name="billing")
    with pytest.raises(CommandError) as info:
        call_command("subscription", action, "nope")
    assert str(info.value) == "There is no subscription named 'nope'."


@pytest.mark.django_db
def test_bootstrap_local_with_a_malformed_key_is_a_command_error_naming_its_source(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SWITCHBOARD_API_KEY", "not-a-key")
    with pytest.raises(CommandError) as info:
        call_command("bootstrap_local", credentials=tmp_path / "credentials.json", stdout=io.StringIO())
    assert str(info.value) == (
        "SWITCHBOARD_API_KEY is not usable: expected sb_<prefix>_<secret>: a prefix of 1-16 letters or digits,"
        " a secret of 32+ random URL-safe characters (e.g. from `manage.py api_key_create`)."
    )


def test_relay_refuses_an_unsafe_redis_with_a_command_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(readiness, "redis_problems", lambda client: ["Redis maxmemory-policy is 'allkeys-lru'."])
    with pytest.raises(CommandError) as info:
        call_command("relay", stdout=io.StringIO())
    assert str(info.value) == "Refusing to start: Redis maxmemory-policy is 'allkeys-lru'."


def test_from_the_shell_a_switchboard_error_prints_one_line_and_exits_1(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        FailingCommand().run_from_argv(["manage.py", "failing"])
    assert exit_info.value.code == 1
    assert capsys.readouterr() == ("", "CommandError: There is no subscription named 'nope'.\n")
