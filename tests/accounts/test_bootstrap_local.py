"""Tests for the `bootstrap_local` command: an admin user, an API key and a metrics token for local use."""

import io
import json
import stat
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError

from apps.accounts.models import ApiKey
from apps.accounts.services import InvalidApiKeyError, api_key_authenticate

pytestmark = pytest.mark.django_db

ENV_VARS = [
    "DJANGO_SUPERUSER_USERNAME",
    "DJANGO_SUPERUSER_PASSWORD",
    "SWITCHBOARD_API_KEY",
    "SWITCHBOARD_METRICS_TOKEN",
]
METRICS_LINE = "metrics:     Authorization: Bearer "


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ENV_VARS:
        monkeypatch.delenv(name, raising=False)


def _bootstrap(credentials: Path) -> tuple[str, str, str]:
    """Run the command; return the username, password and API key it printed."""
    out = io.StringIO()
    call_command("bootstrap_local", credentials=credentials, stdout=out)
    login_line, key_line, metrics_line = out.getvalue().splitlines()
    assert metrics_line.startswith(METRICS_LINE)
    assert login_line.startswith("admin login: ")
    assert key_line.startswith("API key:     ")
    username, password = login_line.removeprefix("admin login: ").split(" / ")
    return username, password, key_line.removeprefix("API key:     ")


def test_first_run_creates_an_admin_and_a_working_key(tmp_path: Path) -> None:
    credentials = tmp_path / "var" / "credentials.json"
    username, password, raw_key = _bootstrap(credentials)

    user = get_user_model().objects.get()
    assert (user.username, user.is_superuser, user.is_staff) == ("admin", True, True)
    assert username == "admin"
    assert user.check_password(password)
    assert ApiKey.objects.count() == 1
    assert api_key_authenticate(raw_key=raw_key) == ApiKey.objects.get(name="local")
    stored = json.loads(credentials.read_text())
    assert {k: v for k, v in stored.items() if k != "metrics_token"} == {
        "username": "admin", "password": password, "api_key": raw_key,
    }  # fmt: skip
    assert len(stored["metrics_token"]) >= 32
    assert stat.S_IMODE(credentials.stat().st_mode) == 0o600


def test_second_run_reuses_the_admin_and_prints_the_same_key(tmp_path: Path) -> None:
    credentials = tmp_path / "credentials.json"
    first = _bootstrap(credentials)
    second = _bootstrap(credentials)

    assert second == first
    assert get_user_model().objects.count() == 1
    assert ApiKey.objects.count() == 1
    assert api_key_authenticate(raw_key=second[2]).name == "local"
    assert get_user_model().objects.get().check_password(second[1])


def test_environment_chooses_username_password_and_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DJANGO_SUPERUSER_USERNAME", "ops")
    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", "correct-horse-battery")
    monkeypatch.setenv("SWITCHBOARD_API_KEY", "sb_localdev_S3cret_with_underscores-AbCdEfGhIjKlMnOpQr")

    printed = _bootstrap(tmp_path / "credentials.json")

    assert printed == ("ops", "correct-horse-battery", "sb_localdev_S3cret_with_underscores-AbCdEfGhIjKlMnOpQr")
    user = get_user_model().objects.get()
    assert user.username == "ops"
    assert user.check_password("correct-horse-battery")
    key = api_key_authenticate(raw_key="sb_localdev_S3cret_with_underscores-AbCdEfGhIjKlMnOpQr")
    assert (key.name, key.prefix) == ("local", "localdev")


def test_environment_overrides_what_an_earlier_run_stored(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    credentials = tmp_path / "credentials.json"
    _, _, old_key = _bootstrap(credentials)
    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", "a-new-password-1")
    monkeypatch.setenv("SWITCHBOARD_API_KEY", "sb_newprefix_NewSecretAbCdEfGhIjKlMnOpQrStUvWxYz0123")

    printed = _bootstrap(credentials)

    assert printed == ("admin", "a-new-password-1", "sb_newprefix_NewSecretAbCdEfGhIjKlMnOpQrStUvWxYz0123")
    assert get_user_model().objects.get().check_password("a-new-password-1")
    assert ApiKey.objects.count() == 1
    assert api_key_authenticate(raw_key="sb_newprefix_NewSecretAbCdEfGhIjKlMnOpQrStUvWxYz0123").name == "local"
    with pytest.raises(InvalidApiKeyError, match="Unknown or revoked API key"):
        api_key_authenticate(raw_key=old_key)
    assert json.loads(credentials.read_text())["api_key"] == "sb_newprefix_NewSecretAbCdEfGhIjKlMnOpQrStUvWxYz0123"


def test_run_without_the_credentials_file_still_prints_a_working_key(tmp_path: Path) -> None:
    # The database keeps the key while the credentials file was lost (deleted, or a
    # fresh checkout beside an existing database): the printed key must still work.
    credentials = tmp_path / "credentials.json"
    _bootstrap(credentials)
    credentials.unlink()

    _, _, raw_key = _bootstrap(credentials)

    assert ApiKey.objects.count() == 1
    assert api_key_authenticate(raw_key=raw_key).name == "local"
    assert json.loads(credentials.read_text())["api_key"] == raw_key


def test_the_metrics_token_is_generated_once_kept_and_printed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    credentials = tmp_path / "credentials.json"
    outputs = []
    for _ in range(2):
        out = io.StringIO()
        call_command("bootstrap_local", credentials=credentials, stdout=out)
        outputs.append(out.getvalue().splitlines()[2].removeprefix(METRICS_LINE))
    assert outputs[0] == outputs[1] == json.loads(credentials.read_text())["metrics_token"]

    monkeypatch.setenv("SWITCHBOARD_METRICS_TOKEN", "chosen-by-the-operator")
    call_command("bootstrap_local", credentials=credentials, stdout=io.StringIO())
    assert json.loads(credentials.read_text())["metrics_token"] == "chosen-by-the-operator"


def test_the_local_key_has_admin(tmp_path: Path) -> None:
    _, _, raw_key = _bootstrap(tmp_path / "credentials.json")

    assert api_key_authenticate(raw_key=raw_key).scopes == ["admin"]


@pytest.mark.parametrize("chosen", ["sb_a_short", "not-a-key", "sb_a_" + "a" * 40, "sb_bad/prefix_" + "Ab1" * 12])
def test_a_weak_or_malformed_chosen_key_is_one_line_naming_the_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, chosen: str
) -> None:
    monkeypatch.setenv("SWITCHBOARD_API_KEY", chosen)

    with pytest.raises(CommandError) as info:
        call_command("bootstrap_local", credentials=tmp_path / "credentials.json", stdout=io.StringIO())

    message = str(info.value)
    assert message.startswith("SWITCHBOARD_API_KEY is not usable: expected sb_<prefix>_<secret>")
    assert "\n" not in message
    assert not ApiKey.objects.exists()
