"""Redis failures during real traffic: SIGKILL and restart, a host crash that loses the
last second of the AOF, down for seconds, connections killed from the server side, full
(noeviction) and evicting (allkeys-lru).

Clients publish over HTTP to gunicorn; real celery workers and the relay deliver through
a private Redis with AOF. Each test prints what was published (answered 202), handled
(effect rows of the demo handlers), skipped as duplicate, dead-lettered and lost.
"""

import logging
import time
from datetime import timedelta
from typing import Any

import httpx
import pytest
from django.utils import timezone

from apps.core import redis_keys
from apps.delivery.models import Delivery, DeliveryState
from apps.publishing.models import Message
from tests.harness.processes import ManagedProcess, wait_until
from tests.harness.redis_server import RedisServer, int_reply
from tests.harness.stack import Stack, WebServer
from tests.system.api import ORDERS, order
from tests.system.faults import (
    AofWatch,
    Publisher,
    queued,
    quiet,
    redis_crash,
    redis_kill,
    redis_restart,
    resent_after_restart,
)
from tests.system.oracle import (
    charged_ids,
    open_deliveries,
    open_deliveries_described,
    reserved_ids,
    settle,
    tally,
    tasks_succeeded,
)

INVENTORY_QUEUE = redis_keys.subscription_queue("inventory-reserve")
# Generous: other test runs share this machine; nothing here asserts a duration.
SETTLE_SECONDS = 120.0
ONE_MESSAGE_SETTLE_SECONDS = 60.0
# Older than the relay's sweep grace plus a few sweeps: a delivery this old and still
# unsent is held back, not merely waiting for the publisher's fast path.
OUTBOX_STUCK_SECONDS = 4.0
# `CLIENT KILL TYPE normal` this many times, this many seconds apart, during a stream.
# Many short-spaced kills rather than five a second apart: each kill is one chance to
# hit a consumer's BRPOP between Redis popping a message and the worker reading it.
CLIENT_KILLS = 50
CLIENT_KILL_INTERVAL = 0.1


@pytest.fixture(autouse=True)
def _quiet_http_client_log() -> None:
    logging.getLogger("httpx").setLevel(logging.WARNING)


def committed_ids() -> list[str]:
    return sorted(str(m) for m in Message.objects.values_list("id", flat=True))


def alive_pids(processes: list[ManagedProcess]) -> list[int | None]:
    return [p.pid if p.alive() else None for p in processes]


def assert_every_message_delivered_once(accepted: list[str]) -> None:
    """Every committed message has both effects, once; every accepted one was committed."""
    committed = committed_ids()
    assert set(accepted) <= set(committed)
    assert reserved_ids() == committed
    assert charged_ids() == committed
    assert Delivery.objects.filter(state=DeliveryState.DELIVERED).count() == 2 * len(committed)
    assert Delivery.objects.count() == 2 * len(committed)


def test_redis_sigkill_mid_stream_loses_no_accepted_publish(
    stack: Stack, redis_server: RedisServer, client: httpx.Client
) -> None:
    worker = stack.start_worker(concurrency=2)
    relay = stack.start_relay()
    running = list(stack.processes)
    pids = alive_pids(running)
    publisher = Publisher(client, count=1000).start()
    wait_until(lambda: publisher.attempts >= 500, timeout=120, what="half of the publishes")

    redis_kill(redis_server)
    accepted_before_kill = len(publisher.accepted)
    time.sleep(1.0)
    redis_restart(redis_server)
    publisher.join()
    settled = settle(timeout=SETTLE_SECONDS)

    result = tally(publisher.accepted, redis_server.client())
    print(
        result.line(
            accepted_before_kill=accepted_before_kill,
            resent_after_restart=resent_after_restart(relay),
            no_answer=len(publisher.no_answer),
            refused=len(publisher.refused),
            open=open_deliveries(),
        )
    )
    assert settled, open_deliveries_described()
    assert result.lost == 0
    assert result.dead_lettered == 0
    assert publisher.refused == []
    assert len(publisher.accepted) + len(publisher.no_answer) == 1000
    assert 500 <= accepted_before_kill < len(publisher.accepted)
    assert_every_message_delivered_once(publisher.accepted)
    # Nobody restarted the worker or the relay: they reconnected on their own.
    assert alive_pids(running) == pids
    assert len(resent_after_restart(relay)) == 1
    assert worker.log().count("Connected to redis://") >= 2


def test_redis_host_crash_losing_the_last_second_of_aof_loses_no_accepted_publish(
    stack: Stack, redis_server: RedisServer, client: httpx.Client
) -> None:
    """The relay sends every open delivery again after a restart: the cut AOF tail is restored.

    No worker runs until Redis is back, so the queued deliveries of the lost second are
    really gone from Redis, and only the relay's resend can bring them back.
    """
    relay = stack.start_relay()
    watch = AofWatch(redis_server).start()
    publisher = Publisher(client, count=300).start()
    wait_until(lambda: publisher.attempts >= 150, timeout=120, what="half of the publishes")

    aof_bytes_lost = redis_crash(redis_server, watch, lost_seconds=1.0)
    accepted_before_crash = len(publisher.accepted)
    redis_restart(redis_server)
    queued_after_restart = queued(redis_server)
    publisher.join()
    stack.start_worker(concurrency=2)
    settled = settle(timeout=SETTLE_SECONDS)

    result = tally(publisher.accepted, redis_server.client())
    print(
        result.line(
            accepted_before_crash=accepted_before_crash,
            aof_bytes_lost=aof_bytes_lost,
            queued_after_restart=queued_after_restart,
            resent_after_restart=resent_after_restart(relay),
            no_answer=len(publisher.no_answer),
            refused=len(publisher.refused),
        )
    )
    assert settled, open_deliveries_described()
    assert aof_bytes_lost > 0
    # The crash took queued deliveries with it: fewer came back than had been accepted.
    assert queued_after_restart < 2 * accepted_before_crash
    assert result.lost == 0
    assert result.dead_lettered == 0
    assert publisher.refused == []
    assert len(publisher.accepted) + len(publisher.no_answer) == 300
    assert_every_message_delivered_once(publisher.accepted)
    assert len(resent_after_restart(relay)) == 1
    assert relay.alive()


def test_redis_down_for_ten_seconds_every_publish_is_accepted_and_delivered(
    stack: Stack, redis_server: RedisServer, client: httpx.Client
) -> None:
    relay = stack.start_relay()
    publishers = [Publisher(client, first=k * 100_000).start() for k in range(2)]
    wait_until(lambda: sum(len(p.accepted) for p in publishers) >= 50, timeout=60, what="publishes before the outage")

    redis_server.stop()
    accepted_at_stop = sum(len(p.accepted) for p in publishers)
    # A worker started while Redis is down: it must connect once Redis is back.
    worker = stack.start_worker(concurrency=2, wait=False)
    time.sleep(10.0)
    accepted_while_down = sum(len(p.accepted) for p in publishers) - accepted_at_stop
    held_in_outbox = Delivery.objects.filter(sent_at__isnull=True).count()
    ready_while_down = " ready." in worker.log()
    redis_restart(redis_server)
    time.sleep(2.0)
    for publisher in publishers:
        publisher.stop.set()
    for publisher in publishers:
        publisher.join()
    worker.wait_for_log(" ready.", timeout=90)
    settled = settle(lambda: open_deliveries() == 0 and quiet(redis_server), timeout=SETTLE_SECONDS)

    accepted = [m for p in publishers for m in p.accepted]
    result = tally(accepted, redis_server.client())
    print(
        result.line(
            accepted_while_down=accepted_while_down,
            held_in_outbox=held_in_outbox,
            worker_tasks=tasks_succeeded(worker),
            refused=sum(len(p.refused) for p in publishers),
            no_answer=sum(len(p.no_answer) for p in publishers),
        )
    )
    assert settled, open_deliveries_described()
    assert [p.refused for p in publishers] == [[], []]
    assert [p.no_answer for p in publishers] == [[], []]
    assert accepted_while_down > 0
    assert held_in_outbox > 0
    assert not ready_while_down
    assert result.lost == 0
    assert result.dead_lettered == 0
    assert_every_message_delivered_once(accepted)
    assert sorted(accepted) == committed_ids()
    # The worker started during the outage is the only one: it handled every delivery.
    assert tasks_succeeded(worker) == 2 * len(accepted) + result.duplicates_skipped
    assert relay.alive()


def test_connections_killed_by_redis_workers_keep_consuming(
    stack: Stack, redis_server: RedisServer, client: httpx.Client
) -> None:
    worker = stack.start_worker(concurrency=2)
    stack.start_relay()
    running = list(stack.processes)
    pids = alive_pids(running)
    publisher = Publisher(client).start()
    wait_until(lambda: publisher.attempts >= 50, timeout=60, what="the stream to start")

    killed = []
    admin = redis_server.client()
    for _ in range(CLIENT_KILLS):
        killed.append(int_reply(admin.client_kill_filter(_type="normal")))
        time.sleep(CLIENT_KILL_INTERVAL)
    published_at_last_kill = publisher.attempts
    wait_until(lambda: publisher.attempts >= published_at_last_kill + 50, timeout=60, what="the stream to go on")
    publisher.stop.set()
    publisher.join()
    settled = settle(timeout=SETTLE_SECONDS)

    result = tally(publisher.accepted, redis_server.client())
    print(
        result.line(
            kills=CLIENT_KILLS,
            connections_killed=sum(killed),
            worker_reconnects=worker.log().count("Connection to broker lost"),
            refused=len(publisher.refused),
            no_answer=len(publisher.no_answer),
            open=open_deliveries(),
        )
    )
    assert settled, open_deliveries_described()
    assert sum(killed) >= CLIENT_KILLS
    assert publisher.refused == []
    assert publisher.no_answer == []
    assert result.lost == 0
    assert result.dead_lettered == 0
    assert_every_message_delivered_once(publisher.accepted)
    assert sorted(publisher.accepted) == committed_ids()
    assert alive_pids(running) == pids


def blocked_in_brpop(server: RedisServer) -> bool:
    """Whether some client (a worker's consumer) is blocked in BRPOP, waiting for messages."""
    # redis-py types every reply of its sync client as maybe-awaitable.
    clients: list[dict[str, str]] = server.client().client_list()  # type: ignore[assignment]
    return any(c["cmd"] == "brpop" and "b" in c["flags"] for c in clients)


def test_a_message_popped_as_its_consumers_connection_dies_is_not_lost(
    stack: Stack, redis_server: RedisServer, client: httpx.Client
) -> None:
    """The same fault as above, made certain: a message arrives as the consumer's connection dies.

    A worker waits in BRPOP. One request carries the LPUSH of a task message and then
    `CLIENT KILL TYPE normal`: Redis hands the message to the blocked BRPOP (popping it)
    and kills the connection before the reply is written. The message is then neither
    in its queue nor in kombu's unacknowledged set; Switchboard must still deliver it.
    """
    stack.start_relay()
    response = client.post(ORDERS, json={"payload": order(1)})
    assert response.status_code == 202
    message_id = response.json()["id"]
    admin = redis_server.client()
    wait_until(lambda: admin.llen(INVENTORY_QUEUE) == 1, timeout=30, what="the inventory task message")
    in_flight = admin.rpop(INVENTORY_QUEUE)
    assert isinstance(in_flight, bytes)
    worker = stack.start_worker(concurrency=1)
    wait_until(lambda: charged_ids() == [message_id], timeout=60, what="the billing delivery")
    wait_until(lambda: blocked_in_brpop(redis_server), timeout=30, what="the worker to wait in BRPOP")

    arrival = admin.pipeline(transaction=False)
    arrival.lpush(INVENTORY_QUEUE, in_flight)
    arrival.client_kill_filter(_type="normal")
    pushed, killed = arrival.execute()
    settled = settle(timeout=ONE_MESSAGE_SETTLE_SECONDS)

    queued = admin.llen(INVENTORY_QUEUE)
    result = tally([message_id], redis_server.client())
    print(result.line(connections_killed=killed, queued_after_kill=queued, worker_alive=worker.alive()))
    assert (pushed, killed >= 1, queued) == (1, True, 0)
    assert settled, open_deliveries_described()
    assert result.lost == 0
    assert reserved_ids() == [message_id]
    assert charged_ids() == [message_id]
    assert worker.alive()


def test_full_redis_holds_publishes_in_the_outbox_and_delivers_them_later(
    stack: Stack, redis_server: RedisServer, web: WebServer, client: httpx.Client
) -> None:
    relay = stack.start_relay()
    admin = redis_server.client()
    # Half a MiB of room (under 2 MB in all): some 400 task messages of about 1.2 KB each.
    # redis-py types every reply of its sync client as maybe-awaitable.
    memory: dict[str, Any] = admin.info("memory")  # type: ignore[assignment]
    maxmemory = int(memory["used_memory"]) + 512 * 1024
    admin.config_set("maxmemory", maxmemory)
    publisher = Publisher(client, padding=3000).start()

    def held_back() -> int:
        """Deliveries the fast path and the relay's sweeps (every second) could not send."""
        stale = timezone.now() - timedelta(seconds=OUTBOX_STUCK_SECONDS)
        return Delivery.objects.filter(sent_at__isnull=True, created_at__lt=stale).count()

    wait_until(lambda: held_back() >= 10, timeout=120, what="deliveries held in the outbox while Redis is full")
    publisher.stop.set()
    publisher.join()
    held_in_outbox = held_back()
    refused_by_redis = web.process.log().count("command not allowed when used memory")
    queued_while_full = queued(redis_server)

    admin.config_set("maxmemory", "0")
    worker = stack.start_worker(concurrency=2)
    settled = settle(timeout=SETTLE_SECONDS)

    result = tally(publisher.accepted, redis_server.client())
    print(
        result.line(
            maxmemory=maxmemory,
            held_in_outbox=held_in_outbox,
            queued_while_full=queued_while_full,
            oom_refusals_logged=refused_by_redis,
            refused=len(publisher.refused),
            no_answer=len(publisher.no_answer),
        )
    )
    assert settled, open_deliveries_described()
    assert held_in_outbox >= 10
    assert refused_by_redis > 0
    assert queued_while_full > 0
    assert publisher.refused == []
    assert publisher.no_answer == []
    assert sorted(publisher.accepted) == committed_ids()
    assert result.lost == 0
    assert result.dead_lettered == 0
    assert_every_message_delivered_once(publisher.accepted)
    assert relay.alive()
    assert worker.alive()


def test_evicting_redis_is_not_ready_and_workers_refuse_to_start(
    stack: Stack, redis_server: RedisServer, web: WebServer, client: httpx.Client
) -> None:
    admin = redis_server.client()
    admin.config_set("maxmemory-policy", "allkeys-lru")
    readyz = httpx.get(f"{web.base_url}/readyz", timeout=30)
    worker = stack.start_worker(concurrency=1, wait=False)
    wait_until(lambda: not worker.alive() or " ready." in worker.log(), timeout=60, what="the worker to exit or start")
    worker_started = worker.alive()
    relay = stack.start_relay(name="relay-unsafe", wait=False)
    wait_until(lambda: not relay.alive() or "Relay running" in relay.log(), timeout=60, what="the relay")
    relay_started = relay.alive()
    answers = [client.post(ORDERS, json={"payload": order(n)}) for n in range(20)]

    admin.config_set("maxmemory-policy", "noeviction")
    ready_again = httpx.get(f"{web.base_url}/readyz", timeout=30)
    safe_worker = stack.start_worker(concurrency=2)
    settled = settle(timeout=SETTLE_SECONDS)

    ids = [r.json()["id"] for r in answers if r.status_code == 202]
    result = tally(ids, redis_server.client())
    print(result.line(readyz=readyz.status_code, worker_started=worker_started, relay_started=relay_started))
    assert readyz.status_code == 503
    problems = readyz.json()["problems"]
    assert len(problems) == 1
    assert "maxmemory-policy is 'allkeys-lru'" in problems[0]
    assert "noeviction" in problems[0]
    assert not worker_started, f"worker runs on an evicting Redis:\n{worker.log()[-2000:]}"
    assert worker.popen is not None and worker.popen.returncode != 0
    assert "Refusing to start" in worker.log()
    assert "maxmemory-policy" in worker.log()
    assert not relay_started
    assert relay.popen is not None and relay.popen.returncode != 0
    assert "maxmemory-policy" in relay.log()
    assert ready_again.status_code == 200
    assert settled
    assert len(ids) == 20
    assert result.lost == 0
    assert result.dead_lettered == 0
    assert_every_message_delivered_once(ids)
    assert safe_worker.alive()
