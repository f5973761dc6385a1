"""Prepare and inspect the benchmark's Switchboard database (runs with bench.settings).

    python -m bench.sb_setup topology SYSTEM   sync the system's topic and subscription, print an API key
    python -m bench.sb_setup wipe              empty every table of BENCH_DATABASE_URL's database
    python -m bench.sb_setup empty             delete every message and delivery, keep the topology
    python -m bench.sb_setup deliveries        print the deliveries per state, as JSON

The topology goes through Switchboard's own loader and sync service, so it is
validated as `sync_topology` would validate config/topology.yaml.
"""

import json
import sys

import django

BATCH_SIZE = 50

TOPOLOGIES = {
    "sb_per_message": """
topics:
  - name: bench.per-message
subscriptions:
  - name: bench-per-message
    topic: bench.per-message
    handler: bench-counter
    batch_size: 1
""",
    "sb_batched": f"""
topics:
  - name: bench.batched
subscriptions:
  - name: bench-batched
    topic: bench.batched
    handler: bench-counter
    batch_size: {BATCH_SIZE}
""",
    "noop_drf": "topics: []\n",
}


def topology(system: str) -> dict[str, str]:
    from apps.accounts import services as account_services
    from apps.topology import services as topology_services
    from apps.topology.loader import topology_parse
    from bench import switchboard_consumers  # noqa: F401 - registers bench-counter for validation

    spec = topology_parse(TOPOLOGIES[system], source=f"bench topology ({system})")
    topology_services.topology_sync(spec=spec)
    _, raw_key = account_services.api_key_create(name=f"bench-{system}", scopes=["admin"])
    return {"api_key": raw_key}


def wipe() -> dict[str, str]:
    """Empty the database named by BENCH_DATABASE_URL; refuse one whose name lacks 'bench'."""
    from django.core.management import call_command
    from django.db import connection

    name = str(connection.settings_dict["NAME"])
    if "bench" not in name:
        raise SystemExit(f"Refusing to wipe database {name!r}: its name must contain 'bench'.")
    call_command("flush", interactive=False, verbosity=0)
    return {"wiped": name}


def empty() -> dict[str, int]:
    """Delete every message, delivery and dead letter, as FLUSHALL empties Redis between runs.

    Otherwise the relay would find the open deliveries of an earlier run (the publish
    runs have no workers) gone from the flushed Redis and send them again, and the next
    run's workers would handle them too.
    """
    from django.db import connection, transaction

    from apps.deadletters.models import DeadLetter
    from apps.delivery.models import Delivery, DeliveryAttempt
    from apps.publishing.models import IdempotencyKey, Message

    deleted = {}
    with transaction.atomic(), connection.cursor() as cursor:
        for model in (DeliveryAttempt, DeadLetter, Delivery, IdempotencyKey, Message):
            cursor.execute(f"DELETE FROM {connection.ops.quote_name(model._meta.db_table)}")  # noqa: S608 - model metadata
            deleted[model.__name__] = cursor.rowcount
    return deleted


def deliveries() -> dict[str, int]:
    from django.db.models import Count

    from apps.delivery.models import Delivery

    rows = Delivery.objects.values("state").annotate(n=Count("id"))
    return {row["state"]: row["n"] for row in rows}


def main(argv: list[str]) -> int:
    django.setup()
    command, *rest = argv
    if command == "topology":
        result: object = topology(rest[0])
    elif command == "wipe":
        result = wipe()
    elif command == "empty":
        result = empty()
    elif command == "deliveries":
        result = deliveries()
    else:
        raise SystemExit(f"unknown command {command!r}")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
