"""Flower, run as scripts/start/flower runs it, tells the truth about Switchboard.

- a delivery task whose delivery died shows FAILURE (DeadLetteredError), not SUCCESS;
- a paused subscription's queue is listed with its depth, like every other one;
- Flower's own /metrics answers only with its basic auth.
"""

from pathlib import Path

import httpx

from apps.deadletters.models import DeadLetter
from apps.topology.models import Subscription
from tests.harness.processes import VENV_BIN, free_port, wait_until
from tests.harness.stack import Stack
from tests.system.api import api_client, publish

LOGIN = ("flower-user", "flower-password")
REPO = Path(__file__).resolve().parents[2]


def test_flower_shows_dead_deliveries_failed_every_queue_and_guards_its_metrics(
    stack: Stack, demo_topology: None, api_key: str
) -> None:
    Subscription.objects.filter(name="billing-charge").update(max_attempts=1)
    Subscription.objects.filter(name="eu-vat").update(paused=True)
    port = free_port()
    stack.spawn(
        "flower",
        [str(VENV_BIN / "celery"), "-A", "project", "flower", "--conf=config/flowerconfig.py",
         "--address=127.0.0.1", f"--port={port}"],
        FLOWER_BASIC_AUTH=":".join(LOGIN),
    )  # fmt: skip
    flower = httpx.Client(base_url=f"http://127.0.0.1:{port}", auth=LOGIN, timeout=10)

    def flower_up() -> bool:
        try:
            return flower.get("/healthcheck").status_code == 200
        except httpx.TransportError:
            return False

    wait_until(flower_up, timeout=60, what="Flower to answer")
    web = stack.start_web()
    stack.start_worker(concurrency=1, CELERY_WORKER_SEND_TASK_EVENTS="true")
    stack.start_relay()
    with api_client(web, api_key) as client:
        doomed = publish(client, {"order_id": "doomed", "total": "1", "simulate": "fail_always"})
        for n in range(3):
            publish(client, {"order_id": f"eu-{n}", "total": "1"}, attributes={"region": "eu"})
    wait_until(lambda: DeadLetter.objects.filter(message_id=doomed).exists(), timeout=60, what="the dead letter")

    # The dead delivery's task failed; the others succeeded.
    def tasks(state: str) -> list[dict[str, object]]:
        answer = flower.get("/api/tasks", params={"state": state})
        assert answer.status_code == 200, answer.text
        return list(answer.json().values())

    wait_until(lambda: len(tasks("FAILURE")) == 1, timeout=30, what="Flower to see the failed task")
    (failed,) = tasks("FAILURE")
    assert failed["name"] == "delivery.deliver"
    assert "DeadLetteredError" in str(failed["exception"])
    # inventory-reserve for all four messages, billing-charge for the three eu ones.
    wait_until(lambda: len(tasks("SUCCESS")) == 4 + 3, timeout=30, what="Flower to see the other tasks")

    # Every subscription's queue is listed, the paused one with the 3 messages it holds.
    def queue_lengths() -> dict[str, int]:
        answer = flower.get("/api/queues/length")
        assert answer.status_code == 200, answer.text
        return {queue["name"]: queue["messages"] for queue in answer.json()["active_queues"]}

    expected = {"sb.billing-charge": 0, "sb.email-send": 0, "sb.eu-vat": 3, "sb.inventory-reserve": 0}
    wait_until(
        lambda: {k: v for k, v in queue_lengths().items() if k in expected} == expected,
        timeout=30,
        what="Flower to list every subscription queue",
    )
    assert flower.get("/broker").status_code == 200
    assert "sb.eu-vat" in flower.get("/broker").text

    # Flower's own metrics: only with its login.
    assert httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).status_code == 401
    wrong = httpx.get(f"http://127.0.0.1:{port}/metrics", auth=("flower-user", "wrong"), timeout=10)
    assert wrong.status_code == 401
    guarded = flower.get("/metrics")
    assert guarded.status_code == 200
    assert "flower_events_total" in guarded.text


def test_the_start_script_runs_flower_with_the_configuration_tested_above() -> None:
    assert "--conf=config/flowerconfig.py" in (REPO / "scripts" / "start" / "flower").read_text()
