"""Demo consumers for the e-commerce sample topic `orders.created`.

The billing consumer reads `simulate` from the payload, so retries and dead letters can
be shown without code changes:

- `"simulate": "fail_always"` fails every attempt (ends as a dead letter);
- `"simulate": {"fail_times": N}` fails the first N attempts, then succeeds.

Both consumers take `"work_seconds": S` (at most 60) to stand for slow work, so crashes
can be staged while handlers run.
"""

import time
from decimal import Decimal, InvalidOperation
from typing import Any

from apps.core.consumers import ReceivedMessage, consumer
from apps.core.errors import PermanentError, RetryableError
from apps.demo.models import BillingCharge, InventoryReservation, VatAssessment

MAX_WORK_SECONDS = 60


def _order_id(payload: Any) -> str:
    if not isinstance(payload, dict):
        raise PermanentError("An order payload must be a JSON object.")
    work_seconds = payload.get("work_seconds")
    if isinstance(work_seconds, int | float) and 0 < work_seconds <= MAX_WORK_SECONDS:
        time.sleep(work_seconds)
    return str(payload.get("order_id", ""))


@consumer("inventory-reserve")
def inventory_reserve(message: ReceivedMessage) -> None:
    """Reserve the order's items (records an InventoryReservation)."""
    InventoryReservation.objects.create(
        message_id=message.id, order_id=_order_id(message.payload), items=message.payload.get("items", [])
    )


def simulated_failure(simulate: Any, attempt: int) -> str | None:
    """Say why this attempt must fail according to `simulate`, or None if it may succeed."""
    if simulate == "fail_always":
        return "simulated failure (fail_always)"
    if isinstance(simulate, dict) and isinstance(simulate.get("fail_times"), int) and attempt <= simulate["fail_times"]:
        return f"simulated failure {attempt} of {simulate['fail_times']}"
    return None


@consumer("billing-charge")
def billing_charge(message: ReceivedMessage) -> None:
    """Charge the order's total (records a BillingCharge), failing on request."""
    order_id = _order_id(message.payload)
    reason = simulated_failure(message.payload.get("simulate"), message.attempt)
    if reason is not None:
        raise RetryableError(reason)
    try:
        amount = Decimal(str(message.payload.get("total", "0")))
    except InvalidOperation as exc:
        raise PermanentError(f"total {message.payload.get('total')!r} is not a number") from exc
    BillingCharge.objects.create(message_id=message.id, order_id=order_id, amount=amount, attempt=message.attempt)


EU_VAT_RATE = Decimal("0.20")


@consumer("eu-vat")
def eu_vat(message: ReceivedMessage) -> None:
    """Work out the VAT of an EU order (records a VatAssessment); its filter takes region=eu only."""
    order_id = _order_id(message.payload)
    try:
        total = Decimal(str(message.payload.get("total", "0")))
    except InvalidOperation as exc:
        raise PermanentError(f"total {message.payload.get('total')!r} is not a number") from exc
    VatAssessment.objects.create(
        message_id=message.id,
        order_id=order_id,
        region=message.attributes.get("region", ""),
        vat=(total * EU_VAT_RATE).quantize(Decimal("0.01")),
    )
