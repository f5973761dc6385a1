"""Topology over REST through gunicorn: what the API creates, the export writes, and
`sync_topology` reads the export back without changing a row."""

import io
from pathlib import Path

import httpx
import pytest
from django.core.management import call_command

from apps.topology.models import Subscription, Topic

pytestmark = pytest.mark.sqlite_too


def test_the_api_creates_the_export_writes_and_sync_topology_accepts_it_unchanged(
    client: httpx.Client, tmp_path: Path
) -> None:
    assert client.post("/api/v1/topics", json={"name": "refunds.issued"}).status_code == 201
    created = client.post(
        "/api/v1/subscriptions",
        json={"name": "refund-audit", "topic": "refunds.issued", "handler": "inventory-reserve", "max_attempts": 2},
    )
    assert created.status_code == 201, created.text
    refused = client.post(
        "/api/v1/subscriptions",
        json={"name": "refund-bad", "topic": "refunds.issued", "handler": "inventory-reserve", "batch_size": 0},
    )
    assert (refused.status_code, refused.json()["errors"]) == (400, {"batch_size": ["0 is less than the minimum of 1"]})

    export = client.get("/api/v1/topology/export")
    assert export.status_code == 200
    path = tmp_path / "exported.yaml"
    path.write_text(export.text)
    out = io.StringIO()
    call_command("sync_topology", file=path, stdout=out)

    entries = Topic.objects.count() + Subscription.objects.count()
    assert out.getvalue().splitlines()[-1] == (
        f"Topology synced from {path}: 0 created, 0 updated, {entries} unchanged."
    ), out.getvalue()
    assert Subscription.objects.get(name="refund-audit").max_attempts == 2
