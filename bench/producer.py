"""Publish the benchmark's messages from one fresh process and time it.

    python -m bench.producer SYSTEM MODE --count N [--batch B] [--rate R] [--warmup W]

SYSTEM is raw_celery, raw_dramatiq, sb_per_message or sb_batched. MODE:
- `single`: one publish call per message (apply_async, send, or Switchboard's publish());
- `many`: Switchboard's publish_many() with B messages per call;
- `paced`: publish at R messages a second (publish_many per 10 ms tick for sb_batched,
  whose deliveries then travel in batches; one call per message otherwise).
Prints one JSON line: how many were published, in how many seconds. The warm-up
messages (connections, lazy imports) are published first and not timed.
"""

import argparse
import json
import sys
import time
from collections.abc import Callable

from bench import workload

TOPICS = {"sb_per_message": "bench.per-message", "sb_batched": "bench.batched"}
TICK_SECONDS = 0.01

Publisher = Callable[[int], None]


def _raw_celery_publisher() -> Publisher:
    from bench.raw_celery import raw_handle

    def publish(n: int) -> None:
        for _ in range(n):
            raw_handle.apply_async(args=(workload.PAYLOAD, time.time()))

    return publish


def _raw_dramatiq_publisher() -> Publisher:
    from bench.raw_dramatiq import raw_handle

    def publish(n: int) -> None:
        for _ in range(n):
            raw_handle.send(workload.PAYLOAD, time.time())

    return publish


def _switchboard_publisher(system: str, *, many: bool, batch: int) -> Publisher:
    import django

    django.setup()
    from apps.publishing import services

    topic = TOPICS[system]

    def publish_single(n: int) -> None:
        for _ in range(n):
            services.publish(topic=topic, payload=workload.PAYLOAD)

    def publish_many(n: int) -> None:
        for start in range(0, n, batch):
            items = [{"payload": workload.PAYLOAD}] * min(batch, n - start)
            results = services.publish_many(topic=topic, messages=items)
            failed = [r for r in results if isinstance(r, Exception)]
            if failed:
                raise RuntimeError(f"publish_many refused {len(failed)} messages: {failed[0]}")

    return publish_many if many else publish_single


def publisher_for(system: str, mode: str, *, batch: int) -> Publisher:
    if system == "raw_celery":
        return _raw_celery_publisher()
    if system == "raw_dramatiq":
        return _raw_dramatiq_publisher()
    many = mode == "many" or (mode == "paced" and system == "sb_batched")
    return _switchboard_publisher(system, many=many, batch=batch)


def paced(publish: Publisher, *, count: int, rate: float, per_tick: bool) -> float:
    """Publish `count` messages at `rate` a second; return the seconds it took.

    Each message goes out when it is due, or with `per_tick` all messages due in a
    10 ms tick go out in one call.
    """
    started = time.perf_counter()
    sent = 0
    while sent < count:
        elapsed = time.perf_counter() - started
        due = min(count, int(elapsed * rate) + 1)
        if due > sent:
            publish(due - sent)
            sent = due
        wait = TICK_SECONDS if per_tick else sent / rate - (time.perf_counter() - started)
        if wait > 0:
            time.sleep(min(TICK_SECONDS, wait))
    return time.perf_counter() - started


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("system", choices=["raw_celery", "raw_dramatiq", *TOPICS])
    parser.add_argument("mode", choices=["single", "many", "paced"])
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--rate", type=float, default=0.0)
    parser.add_argument("--warmup", type=int, default=0)
    args = parser.parse_args(argv)
    publish = publisher_for(args.system, args.mode, batch=args.batch)
    if args.warmup:
        publish(args.warmup)
    if args.mode == "paced":
        seconds = paced(publish, count=args.count, rate=args.rate, per_tick=args.system == "sb_batched")
    else:
        started = time.perf_counter()
        publish(args.count)
        seconds = time.perf_counter() - started
    print(json.dumps({"count": args.count, "warmup": args.warmup, "seconds": seconds}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
