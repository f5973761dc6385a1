"""JSON log lines from a real worker: every line about a delivery names its message, subscription and id."""

from typing import Any

import httpx
import orjson

from apps.delivery.models import Delivery
from tests.harness.processes import wait_until
from tests.harness.stack import Stack
from tests.system.api import publish
from tests.system.oracle import nothing_open


def json_lines(text: str) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in text.splitlines() if line.startswith("{")]


def test_a_json_worker_names_the_delivery_on_every_line_of_its_attempts(stack: Stack, client: httpx.Client) -> None:
    worker = stack.start_worker(SWITCHBOARD_LOG_FORMAT="json")
    stack.start_relay()
    message_id = publish(client, {"order_id": "J-1", "total": "1", "simulate": {"fail_times": 1}})
    wait_until(nothing_open, timeout=30, what="the deliveries to finish")

    lines = json_lines(worker.log())
    deliveries = dict(Delivery.objects.values_list("pk", "subscription__name"))
    about_deliveries = [
        line for line in lines if line["logger"].startswith("apps.delivery") or line["logger"] == "celery.app.trace"
    ]
    print(f"json_lines={len(lines)} delivery_lines={len(about_deliveries)} deliveries={len(deliveries)}")
    # Three tasks ran (billing twice: it fails once) and each logged its success
    # (celery.app.trace); billing's failed attempt logged one line (apps.delivery.attempts).
    assert sorted(line["logger"] for line in about_deliveries) == ["apps.delivery.attempts"] + ["celery.app.trace"] * 3
    for line in about_deliveries:
        assert line["message_id"] == message_id, line
        assert deliveries[line["delivery_id"]] == line["subscription"], line
