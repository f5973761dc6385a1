"""Sample e-commerce traffic for the demo topology, and what the ledger says became of it.

`orders()` makes realistic orders (regions, emails, amounts, a share that fails a few
times or always, now and then a delayed one); a `Sender` publishes them over the REST
API or through `publish()` / `publish_many()`; `run_progress()` and `run_summary()` read
the ledger's rows of one run (its messages' keys start with the run's prefix).
"""

import random
import statistics
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import httpx
import redis
from django.db.models import Count, Q, Sum

from apps.core.errors import SwitchboardError
from apps.delivery.models import OPEN_STATES, Delivery, DeliveryState
from apps.publishing import services as publishing
from apps.publishing.errors import PublishError
from apps.publishing.models import Message
from apps.topology import selectors as topology_selectors

TOPIC = "orders.created"
REGIONS = [("eu", 0.45), ("us", 0.35), ("uk", 0.12), ("apac", 0.08)]
SKUS = ["book", "lamp", "mug", "chair", "desk", "pen", "bag", "plant", "poster", "cable"]
NAMES = ["ada", "alan", "grace", "linus", "margaret", "ken", "barbara", "dennis", "frances", "edsger"]


@dataclass(frozen=True)
class Mix:
    """Shares (0..1) of the traffic: handler failures, emails, delayed messages, batches."""

    fail_times: float = 0.05
    fail_always: float = 0.01
    email: float = 0.6
    delayed: float = 0.02
    batch: float = 0.05
    max_delay: float = 5.0


@dataclass(frozen=True)
class Order:
    payload: dict[str, Any]
    attributes: dict[str, str]
    key: str
    delay_seconds: float | None = None

    def as_body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"payload": self.payload, "attributes": self.attributes, "key": self.key}
        if self.delay_seconds:
            body["delay_seconds"] = self.delay_seconds
        return body


def orders(*, run: str, mix: Mix, seed: int | None = None) -> Iterator[Order]:
    """Yield orders without end, keyed `<run>-<n>`; the same seed yields the same orders."""
    rng = random.Random(seed)
    regions, weights = zip(*REGIONS, strict=True)
    for n in range(1, 1_000_000_000):
        region = rng.choices(regions, weights)[0]
        items = rng.sample(SKUS, rng.randint(1, 4))
        payload: dict[str, Any] = {
            "order_id": f"{run}-{n}",
            "total": f"{rng.lognormvariate(3.4, 0.8):.2f}",
            "currency": "EUR" if region == "eu" else "USD",
            "items": items,
        }
        if rng.random() < mix.email:
            payload["email"] = f"{rng.choice(NAMES)}{rng.randint(1, 999)}@example.com"
        roll = rng.random()
        if roll < mix.fail_always:
            payload["simulate"] = "fail_always"
        elif roll < mix.fail_always + mix.fail_times:
            payload["simulate"] = {"fail_times": rng.randint(1, 3)}
        delay = round(rng.uniform(1, mix.max_delay), 1) if rng.random() < mix.delayed else None
        yield Order(payload=payload, attributes={"region": region}, key=f"{run}-{n}", delay_seconds=delay)


class Sender(Protocol):
    def send(self, batch: Sequence[Order]) -> int:
        """Publish the orders (one, or a batch); return how many were accepted."""


class SimulationError(SwitchboardError):
    """The API cannot be reached, or refused the simulator's requests."""

    status = 502
    code = "simulation-failed"
    title = "Simulation failed"


class ApiSender:
    """Publish over the REST API, as a service would (one POST, or the batch endpoint)."""

    def __init__(self, *, base_url: str, api_key: str) -> None:
        self.base_url = base_url
        self.client = httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {api_key}"}, timeout=30)

    def send(self, batch: Sequence[Order]) -> int:
        if len(batch) == 1:
            self._post(f"/api/v1/topics/{TOPIC}/messages", batch[0].as_body())
            return 1
        response = self._post(f"/api/v1/topics/{TOPIC}/messages/batch", {"messages": [o.as_body() for o in batch]})
        return int(response.json()["accepted"])

    def _post(self, path: str, body: dict[str, Any]) -> httpx.Response:
        """POST `body`; wait out a rate limit (429, Retry-After); raise SimulationError for anything else not 2xx."""
        while True:
            try:
                response = self.client.post(path, json=body)
            except httpx.TransportError as exc:
                raise SimulationError(
                    f"cannot reach the API at {self.base_url} ({exc}); start it with `make run`, or pass --url"
                ) from exc
            if response.status_code != 429:
                break
            time.sleep(float(response.headers.get("Retry-After", "1")))
        if not response.is_success:
            detail = (
                response.json().get("detail", "") if response.headers.get("content-type", "").endswith("json") else ""
            )
            raise SimulationError(
                f"the API answered {response.status_code} to POST {path}: {detail or response.text[:200]}"
            )
        return response


class PythonSender:
    """Publish through the Python service, in this process."""

    def send(self, batch: Sequence[Order]) -> int:
        if len(batch) == 1:
            publishing.publish(topic=TOPIC, **batch[0].as_body())
            return 1
        results = publishing.publish_many(topic=TOPIC, messages=[o.as_body() for o in batch])
        return sum(1 for r in results if not isinstance(r, PublishError))


@dataclass(frozen=True)
class Progress:
    delivered: int
    retrying: int
    dead: int
    open: int
    depth: int
    total: int


def _run_deliveries(run: str) -> Any:
    return Delivery.objects.filter(message__key__startswith=f"{run}-")


def run_progress(*, run: str) -> Progress:
    counts = _run_deliveries(run).aggregate(
        delivered=Count("id", filter=Q(state=DeliveryState.DELIVERED)),
        retrying=Count("id", filter=Q(state=DeliveryState.RETRYING)),
        dead=Count("id", filter=Q(state=DeliveryState.DEAD)),
        open=Count("id", filter=Q(state__in=OPEN_STATES)),
        total=Count("id"),
    )
    try:
        depth = sum(topology_selectors.queue_depths(queues=topology_selectors.subscription_queues()).values())
    except redis.RedisError:  # the depth is only shown; Redis may be away for a moment
        depth = 0
    return Progress(depth=depth, **counts)


@dataclass(frozen=True)
class SummaryRow:
    subscription: str
    deliveries: int
    delivered: int
    retried: int  # failed attempts that were retried (switchboard_deliveries_total{outcome="retried"})
    dead_lettered: int
    lost: int  # neither delivered nor dead-lettered
    p50_ms: float | None
    p99_ms: float | None


def run_summary(*, run: str) -> list[SummaryRow]:
    """Per subscription and in total: what became of the run's deliveries, read from the ledger."""
    deliveries = _run_deliveries(run)
    rows = []
    names = sorted(set(deliveries.values_list("subscription__name", flat=True)))
    for name in [*names, None]:
        selected = deliveries if name is None else deliveries.filter(subscription__name=name)
        counts = selected.aggregate(
            total=Count("id"),
            delivered=Count("id", filter=Q(state=DeliveryState.DELIVERED)),
            attempts_made=Sum("attempts", filter=Q(attempts__gt=0)),
            started=Count("id", filter=Q(attempts__gt=0)),
            dead=Count("id", filter=Q(state=DeliveryState.DEAD)),
        )
        latencies = sorted(
            (finished - (not_before or created)).total_seconds() * 1000
            for created, not_before, finished in selected.filter(state=DeliveryState.DELIVERED).values_list(
                "created_at", "not_before", "finished_at"
            )
            if finished is not None
        )
        rows.append(
            SummaryRow(
                subscription=name or "all",
                deliveries=counts["total"],
                delivered=counts["delivered"],
                retried=(counts["attempts_made"] or 0) - counts["started"],
                dead_lettered=counts["dead"],
                lost=counts["total"] - counts["delivered"] - counts["dead"],
                p50_ms=_quantile(latencies, 0.5),
                p99_ms=_quantile(latencies, 0.99),
            )
        )
    return rows


def _quantile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[round(q * 100) - 1]


def run_published(*, run: str) -> int:
    """Count the run's messages in the ledger."""
    return Message.objects.filter(key__startswith=f"{run}-").count()
