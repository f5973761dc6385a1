"""Publishing to the Switchboard under test through its REST API (gunicorn), as a service would."""

from typing import Any

import httpx

from tests.harness.stack import WebServer

ORDERS_TOPIC = "orders.created"
ORDERS = f"/api/v1/topics/{ORDERS_TOPIC}/messages"
BATCH_LIMIT = 500
# A publish may wait on Redis (kombu retries a refused connection for a few seconds) and
# on SQLite's write lock; the client waits longer than both.
CLIENT_TIMEOUT = 60.0


def api_client(web: WebServer, api_key: str) -> httpx.Client:
    """An authenticated client of the web server's API, with room for 100 concurrent requests."""
    return httpx.Client(
        base_url=web.base_url,
        headers={"Authorization": f"Bearer {api_key}"},
        timeout=CLIENT_TIMEOUT,
        limits=httpx.Limits(max_connections=100, max_keepalive_connections=100),
    )


def publish(client: httpx.Client, payload: Any, *, topic: str = ORDERS_TOPIC, **fields: Any) -> str:
    """Publish one message; assert it is accepted and return its id."""
    response = client.post(f"/api/v1/topics/{topic}/messages", json={"payload": payload, **fields})
    assert response.status_code == 202, response.text
    return str(response.json()["id"])


def publish_batch(client: httpx.Client, items: list[dict[str, Any]], *, topic: str = ORDERS_TOPIC) -> list[str]:
    """Publish items through the batch endpoint, 500 a request; assert each is accepted; return the ids in order."""
    ids: list[str] = []
    for start in range(0, len(items), BATCH_LIMIT):
        chunk = items[start : start + BATCH_LIMIT]
        response = client.post(f"/api/v1/topics/{topic}/messages/batch", json={"messages": chunk})
        assert response.status_code == 202, response.text
        body = response.json()
        assert (body["accepted"], body["failed"]) == (len(chunk), 0), body
        ids += [str(result["id"]) for result in body["results"]]
    return ids


def order(n: int, *, padding: int = 0) -> dict[str, Any]:
    """An order the demo handlers accept; no `email`, so the webhook subscription skips it."""
    payload: dict[str, Any] = {"order_id": f"O-{n}", "total": "1.00", "items": [f"sku-{n}"]}
    if padding:
        payload["note"] = "x" * padding
    return payload


def orders(count: int, prefix: str, **fields: Any) -> list[dict[str, Any]]:
    """Build `count` batch items with distinct order ids and the given payload fields."""
    return [{"payload": {"order_id": f"{prefix}-{n}", **fields}} for n in range(count)]
