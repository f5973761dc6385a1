"""Fixtures that run Switchboard for real: a private Redis (AOF), celery workers, the relay
and gunicorn, all sharing the test database (SQLite file or PostgreSQL)."""

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis
from django.core.management import call_command
from django.db import connection

from apps.topology.models import Subscription
from tests.harness.redis_server import RedisServer
from tests.harness.stack import Stack, WebServer, django_env
from tests.system.api import api_client

# Fault drills run on PostgreSQL: `make test` runs the whole suite on PostgreSQL, and on
# SQLite everything but these modules — except the drills marked `sqlite_too` (load and
# worker SIGKILL), which prove the embedded default under several writing processes.
POSTGRES_ONLY_MODULES = {
    "test_crashes.py",
    "test_redis_faults.py",
    "test_publish_guarantees.py",
    "test_poison_and_timeouts.py",
}


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        path = Path(str(item.fspath))
        if path.parent.name != "system":
            continue
        item.add_marker(pytest.mark.system)
        if path.name in POSTGRES_ONLY_MODULES and item.get_closest_marker("sqlite_too") is None:
            item.add_marker(pytest.mark.postgres_only)


def _database_url() -> str:
    """Name the test database (as pytest-django created it) as a DATABASE_URL for other processes."""
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{Path(db['NAME']).resolve()}"
    auth = db["USER"] + (f":{db['PASSWORD']}" if db["PASSWORD"] else "")
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(directory=tmp_path / "redis").start()
    yield server
    server.stop()


@pytest.fixture
def stack(transactional_db: None, redis_server: RedisServer, tmp_path: Path) -> Iterator[Stack]:
    env = django_env(settings="project.settings.test", database_url=_database_url(), redis_url=redis_server.url)
    stack = Stack(redis=redis_server, log_dir=tmp_path, env=env)
    yield stack
    stack.stop_all()


@pytest.fixture
def demo_topology(transactional_db: None) -> None:
    """Load config/topology.yaml, with retry waits shortened so tests stay quick."""
    call_command("sync_topology", verbosity=0)
    Subscription.objects.update(retry_initial_delay=0.2, retry_multiplier=1.0, retry_max_delay=0.2, retry_jitter=0.0)


@pytest.fixture
def web(stack: Stack, demo_topology: None) -> WebServer:
    """Start gunicorn on the demo topology (config/topology.yaml)."""
    return stack.start_web()


@pytest.fixture
def client(web: WebServer, api_key: str) -> Iterator[httpx.Client]:
    with api_client(web, api_key) as client:
        yield client


@pytest.fixture
def rds(stack: Stack) -> redis.Redis:
    """A client of the private Redis, for reading what Switchboard keeps there."""
    return stack.redis.client()
