"""`manage.py simulate` publishes over the REST API to real processes and reports what the ledger says."""

import re
from io import StringIO

from django.core.management import call_command

from apps.delivery.models import Delivery, DeliveryState
from apps.publishing.models import Message
from tests.harness.stack import Stack, WebServer


def test_simulate_publishes_the_count_waits_and_summarises_from_the_ledger(
    stack: Stack, web: WebServer, api_key: str
) -> None:
    stack.start_worker()
    stack.start_relay()
    out = StringIO()

    call_command(
        "simulate",
        "--count", "120", "--rate", "200", "--url", web.base_url, "--api-key", api_key, "--seed", "3",
        "--fail-times", "0.1", "--fail-always", "0.05", "--delayed", "0.05", "--batch", "0.2",
        stdout=out,
    )  # fmt: skip

    text = out.getvalue()
    print(text)
    assert Message.objects.count() == 120
    deliveries = Delivery.objects.all()
    final = deliveries.filter(state__in=[DeliveryState.DELIVERED, DeliveryState.DEAD]).count()
    assert final == deliveries.count()  # nothing lost
    assert re.search(r"Run sim-\S+: 120 messages published", text)
    [total] = [line for line in text.splitlines() if line.strip("│ ").startswith("all")]
    cells = [cell.strip() for cell in total.strip("│").split("│")]
    delivered = deliveries.filter(state=DeliveryState.DELIVERED).count()
    dead = deliveries.filter(state=DeliveryState.DEAD).count()
    retried = sum(d.attempts - 1 for d in deliveries)  # as switchboard_deliveries_total{outcome="retried"}
    assert cells[:6] == ["all", str(deliveries.count()), str(delivered), str(retried), str(dead), "0"]
    assert dead > 0 and retried > dead  # the mix asked for failures
