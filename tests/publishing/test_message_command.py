"""Tests for `manage.py message publish`: the payload from an argument, a file or stdin."""

import io
import json
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from apps.publishing.models import Message
from apps.topology.models import Topic

pytestmark = pytest.mark.django_db


def run(*args: str, stdin: str = "") -> str:
    out = io.StringIO()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("sys.stdin", io.StringIO(stdin))
        call_command("message", *args, stdout=out)
    return out.getvalue()


def test_publish_from_an_argument_with_attributes_and_key(orders_topic: Topic) -> None:
    receipt = json.loads(
        run("publish", "orders.created", '{"order_id": "o-1"}', "--attribute", "region=eu", "--key", "c-1", "--json")
    )

    message = Message.objects.get(pk=receipt["id"])
    assert (message.payload, message.attributes, message.key) == ({"order_id": "o-1"}, {"region": "eu"}, "c-1")
    assert message.deliveries.count() == 2
    assert receipt == {
        "id": str(message.pk),
        "topic": "orders.created",
        "published_at": message.published_at.isoformat(),
    }


def test_publish_from_a_file_and_from_stdin(orders_topic: Topic, tmp_path: Path) -> None:
    path = tmp_path / "order.json"
    path.write_text('{"order_id": "from-file"}')

    from_file = run("publish", "orders.created", "--file", str(path))
    from_stdin = run("publish", "orders.created", "-", stdin='{"order_id": "from-stdin"}')

    payloads = sorted(m.payload["order_id"] for m in Message.objects.all())
    assert payloads == ["from-file", "from-stdin"]
    assert from_file.startswith("Published ") and from_file.rstrip().endswith(".")
    assert " to orders.created at " in from_stdin


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (["publish", "orders.created", "{not json"], "The payload in the payload argument is not JSON: "),
        (["publish", "orders.nope", "{}"], "There is no topic named 'orders.nope'."),
        (["publish", "orders.created", "{}", "--attribute", "region"], "--attribute takes NAME=VALUE, not 'region'."),
        (["publish", "orders.created", "--file", "/nonexistent.json"], "Cannot read /nonexistent.json: "),
        (["tail", "--topic", "orders.nope"], "There is no topic named 'orders.nope'."),
    ],
)
def test_bad_requests_are_one_line_errors_and_publish_nothing(orders_topic: Topic, args: list[str], error: str) -> None:
    with pytest.raises(CommandError) as info:
        run(*args)
    assert str(info.value).startswith(error)
    assert Message.objects.count() == 0
