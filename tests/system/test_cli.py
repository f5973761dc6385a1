"""The operator's CLI as a shell runs it: `manage.py` processes against a real worker and relay.

A message published through `message publish` (payload on stdin) is followed by
`message tail --subscription` in another process until its delivery's outcome shows; a
refused command prints one line and exits 1; bad usage exits 2; --help exits 0.
"""

import json
import subprocess
import sys

import pytest

from tests.harness.stack import Stack

pytestmark = pytest.mark.sqlite_too

TIMEOUT = 90


def manage(stack: Stack, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        env=stack.env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )


@pytest.mark.usefixtures("demo_topology")
def test_publish_from_stdin_and_tail_the_delivery_to_its_outcome(stack: Stack) -> None:
    stack.start_worker(concurrency=1)
    stack.start_relay()
    tail = subprocess.Popen(
        [
            sys.executable,
            "manage.py",
            "message",
            "tail",
            "--subscription",
            "inventory-reserve",
            "--seconds",
            "20",
            "--json",
        ],
        env=stack.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert tail.stderr is not None
        assert tail.stderr.readline().startswith("Following subscription inventory-reserve from ")
        published = manage(
            stack, "message", "publish", "orders.created", "--json", "--key", "c-9", stdin='{"order_id": "cli-1"}'
        )
        assert published.returncode == 0, published.stderr
        message_id = json.loads(published.stdout)["id"]
        assert tail.stdout is not None
        events = []
        for line in tail.stdout:
            events.append(json.loads(line))
            if events[-1]["message_id"] == message_id:
                break
    finally:
        tail.kill()
        tail.wait()
    assert [(e["event"], e["subscription"], e["attempts"]) for e in events if e["message_id"] == message_id] == [
        ("delivered", "inventory-reserve", 1)
    ]


@pytest.mark.usefixtures("demo_topology")
def test_exit_codes_and_one_line_errors(stack: Stack) -> None:
    refused = manage(stack, "message", "publish", "orders.nope", "{}")
    usage = manage(stack, "subscription", "stats")
    helped = manage(stack, "dead_letters", "--help")
    stats = manage(stack, "subscription", "stats", "billing-charge", "--json")

    assert (refused.returncode, refused.stdout, refused.stderr) == (
        1,
        "",
        "CommandError: There is no topic named 'orders.nope'.\n",
    )
    assert usage.returncode == 2
    assert "the following arguments are required: name" in usage.stderr
    assert helped.returncode == 0
    assert "{list,show,replay,purge}" in helped.stdout
    assert stats.returncode == 0, stats.stderr
    assert json.loads(stats.stdout)["subscription"] == "billing-charge"
