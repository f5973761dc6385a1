"""Fixtures shared by every test package; keep them generic (tests/system adds its own)."""

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from rest_framework.test import APIClient

from apps.accounts.services import api_key_create


@pytest.fixture
def api_client() -> APIClient:
    """Return a DRF test client without credentials."""
    return APIClient()


@pytest.fixture
def api_key(db: None) -> str:
    """Create an active API key with the `admin` scope (every scope) and return its raw form (sb_<prefix>_<secret>)."""
    _, raw_key = api_key_create(name="tests", scopes=["admin"])
    return raw_key


@pytest.fixture
def authenticated_client(api_client: APIClient, api_key: str) -> APIClient:
    """Return a DRF test client that sends `Authorization: Bearer <api_key>`."""
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {api_key}")
    return api_client


@pytest.fixture
def private_redis(tmp_path: Path, settings: Any) -> Iterator[str]:
    """Run a private redis-server (AOF, free port) and point this process's Redis client at it."""
    from apps.core.redis import redis_client
    from tests.harness.redis_server import RedisServer

    server = RedisServer(directory=tmp_path / "redis").start()
    settings.REDIS_URL = server.url
    redis_client.cache_clear()
    yield server.url
    redis_client.cache_clear()
    server.stop()


@pytest.fixture
def celery_broker(private_redis: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Make the private redis-server Celery's broker too: deliveries are sent there."""
    from apps.delivery import broker, tasks

    monkeypatch.setattr(tasks.deliver.app.conf, "broker_url", private_redis)
    broker.sender_client.cache_clear()
    yield private_redis
    broker.sender_client.cache_clear()
