"""The ledger is the only writer of a delivery, and each of its moves follows models.TRANSITIONS.

Every public function of apps.delivery.ledger is tried from every state: a move applies
exactly when the table allows it, and a write that is not a move leaves the state as it
was. A scan of the source of apps/ then checks that no other module writes a Delivery.
"""

import ast
import inspect
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from apps.deadletters.models import DeadLetter, DeadLetterReason
from apps.delivery import ledger
from apps.delivery.models import INITIAL_STATE, OPEN_STATES, TRANSITIONS, Delivery, DeliveryState, states_before
from tests.factories import DeadLetterFactory, DeliveryFactory, MessageFactory, SubscriptionFactory

APPS = Path(__file__).resolve().parents[2] / "apps"
LEDGER = APPS / "delivery" / "ledger.py"

Move = Callable[[Delivery], bool]


def _delivered(delivery: Delivery) -> bool:
    return ledger.delivery_mark_delivered(delivery_id=delivery.pk, subscription=delivery.subscription.name, attempt=1)


def _retrying(delivery: Delivery) -> bool:
    return ledger.delivery_mark_retrying(
        delivery_id=delivery.pk, subscription=delivery.subscription.name, attempt=1, error="boom", due=timezone.now()
    )


def _dead(delivery: Delivery) -> bool:
    return ledger.delivery_mark_dead(delivery=delivery, reason=DeadLetterReason.EXHAUSTED, attempts=1, error="boom")


def _reset(delivery: Delivery) -> bool:
    dead_letter = DeadLetterFactory.create(delivery=delivery)
    reset = ledger.deliveries_reset_for_replay(dead_letters=[dead_letter], due={}, now=timezone.now())
    return reset == 1


def _cancelled(delivery: Delivery) -> bool:
    return ledger.delivery_mark_cancelled(delivery_id=delivery.pk)


# Each move, with the state it leads to.
MOVES: dict[str, tuple[Move, DeliveryState]] = {
    "delivery_mark_delivered": (_delivered, DeliveryState.DELIVERED),
    "delivery_mark_retrying": (_retrying, DeliveryState.RETRYING),
    "delivery_mark_dead": (_dead, DeliveryState.DEAD),
    "deliveries_reset_for_replay": (_reset, DeliveryState.PENDING),
    "delivery_mark_cancelled": (_cancelled, DeliveryState.CANCELLED),
}


def _claim(delivery: Delivery) -> bool:
    return ledger.deliveries_claim_unsent(delivery_ids=[delivery.pk], now=timezone.now()) == {delivery.pk}


def _lock(delivery: Delivery) -> bool:
    return len(ledger.deliveries_lock_unsent(delivery_ids=[delivery.pk], created_before=None, limit=1)) == 1


def _sent(delivery: Delivery) -> bool:
    return ledger.deliveries_mark_sent(delivery_ids=[delivery.pk], now=timezone.now()) == 1


def _unsent(delivery: Delivery) -> bool:
    return ledger.deliveries_mark_unsent(delivery_ids=[delivery.pk]) == 1


def _all_unsent(delivery: Delivery) -> bool:
    return ledger.deliveries_mark_all_unsent() == 1


def _link(delivery: Delivery) -> bool:
    ledger.deliveries_link_replayed(links={delivery.pk: DeadLetterFactory.create(delivery=delivery)})
    return True


# Writes within a state (the outbox, links), with the states they apply in; `sent` says
# whether the delivery starts sent (the outbox writes need one or the other).
WITHIN_STATE: dict[str, tuple[Move, list[DeliveryState], bool]] = {
    "deliveries_claim_unsent": (_claim, list(DeliveryState), False),
    "deliveries_lock_unsent": (_lock, list(DeliveryState), False),
    "deliveries_mark_sent": (_sent, list(DeliveryState), False),
    "deliveries_mark_unsent": (_unsent, OPEN_STATES, True),
    "deliveries_mark_all_unsent": (_all_unsent, OPEN_STATES, True),
    "deliveries_link_replayed": (_link, list(DeliveryState), True),
}
# Writes that create rows: tried below on their own.
CREATES = {"deliveries_insert", "dead_letters_unroutable"}


def a_delivery(state: DeliveryState, *, sent: bool = True) -> Delivery:
    return DeliveryFactory.create(state=state, sent_at=timezone.now() - timedelta(minutes=1) if sent else None)


def test_every_function_of_the_ledger_is_tried_here() -> None:
    public = {
        name for name, value in inspect.getmembers(ledger, inspect.isfunction) if value.__module__ == ledger.__name__
    }
    assert {name for name in public if not name.startswith("_")} == set(MOVES) | set(WITHIN_STATE) | CREATES


def test_the_table_names_every_state_and_open_states_are_those_that_can_finish() -> None:
    assert set(TRANSITIONS) == set(DeliveryState)
    assert states_before(DeliveryState.DELIVERED) == OPEN_STATES
    assert TRANSITIONS[DeliveryState.DELIVERED] == frozenset()


@pytest.mark.django_db
@pytest.mark.parametrize("before", list(DeliveryState))
@pytest.mark.parametrize("name", list(MOVES))
def test_a_move_applies_exactly_when_the_table_allows_it(name: str, before: DeliveryState) -> None:
    move, after = MOVES[name]
    delivery = a_delivery(before)

    applied = move(delivery)

    allowed = after in TRANSITIONS[before]
    delivery.refresh_from_db()
    assert (applied, delivery.state) == (allowed, after if allowed else before)


@pytest.mark.django_db
@pytest.mark.parametrize("before", list(DeliveryState))
def test_a_refused_death_keeps_no_dead_letter(before: DeliveryState) -> None:
    delivery = a_delivery(before)

    _dead(delivery)

    assert DeadLetter.objects.filter(delivery=delivery).count() == (1 if before in OPEN_STATES else 0)


@pytest.mark.django_db
@pytest.mark.parametrize("before", list(DeliveryState))
@pytest.mark.parametrize("name", list(WITHIN_STATE))
def test_a_write_within_a_state_leaves_the_state_alone(name: str, before: DeliveryState) -> None:
    write, applies_in, sent = WITHIN_STATE[name]
    delivery = a_delivery(before, sent=sent)

    applied = write(delivery)

    delivery.refresh_from_db()
    assert (applied, delivery.state) == (before in applies_in, before)


@pytest.mark.django_db
def test_deliveries_are_inserted_in_the_initial_state_and_unroutable_messages_kept_without_one() -> None:
    subscription = SubscriptionFactory.create()
    message = MessageFactory.create(topic=subscription.topic)

    [pk] = ledger.deliveries_insert(rows=[(message, subscription, None)])
    [dead_letter] = ledger.dead_letters_unroutable(messages=[MessageFactory.create()])

    assert Delivery.objects.get(pk=pk).state == INITIAL_STATE
    assert (dead_letter.reason, dead_letter.delivery_id) == (DeadLetterReason.UNROUTABLE, None)


# --- Nothing but the ledger writes a Delivery -------------------------------------------

WRITE_METHODS = {"update", "bulk_update", "bulk_create", "create", "get_or_create", "update_or_create", "save"}
# Managers and relations through which a Delivery is reached.
DELIVERY_NAMES = {"Delivery", "deliveries"}


def _names_in(node: ast.expr) -> Iterator[str]:
    """Yield the names and attributes of an expression's receiver chain (`Delivery.objects.filter(...)`)."""
    while True:
        if isinstance(node, ast.Call):
            node = node.func
        elif isinstance(node, ast.Attribute):
            yield node.attr
            node = node.value
        elif isinstance(node, ast.Subscript):
            node = node.value
        else:
            if isinstance(node, ast.Name):
                yield node.id
            return


def _write(node: ast.AST) -> str | None:
    """Say what write of a Delivery `node` is, if it is one."""
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in WRITE_METHODS:
        return f".{node.func.attr}() on a Delivery" if DELIVERY_NAMES & set(_names_in(node.func.value)) else None
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "Delivery":
        return "Delivery(...) built"
    if isinstance(node, ast.Assign) and any(isinstance(t, ast.Attribute) and t.attr == "state" for t in node.targets):
        return ".state set to a DeliveryState" if "DeliveryState" in set(_names_in(node.value)) else None
    if (
        isinstance(node, ast.Attribute)
        and node.attr == "db_table"
        and list(_names_in(node))[-2:] == ["_meta", "Delivery"]
    ):
        return "SQL on the Delivery table"
    return None


def delivery_writes(source: str) -> list[str]:
    """Name each write of a Delivery in `source`: a write method on a Delivery queryset or
    relation, a Delivery built, a state set to a DeliveryState, raw SQL on the table."""
    found = []
    for node in ast.walk(ast.parse(source)):
        write = _write(node)
        if write is not None:
            found.append(f"line {getattr(node, 'lineno', 0)}: {write}")
    return found


def _sources() -> Iterator[Path]:
    for path in sorted(APPS.rglob("*.py")):
        if "migrations" not in path.parts and path != LEDGER:
            yield path


# The one reader that writes its SQL by hand: one SELECT, the load of an attempt.
READERS = {APPS / "delivery" / "selectors.py": ["SQL on the Delivery table"]}


def test_no_module_but_the_ledger_writes_a_delivery() -> None:
    writes = {}
    for path in _sources():
        found = delivery_writes(path.read_text())
        allowed = READERS.get(path, [])
        found = [write for write in found if not any(write.endswith(reason) for reason in allowed)]
        if found:
            writes[str(path.relative_to(APPS.parent))] = found
    assert writes == {}


@pytest.mark.parametrize(
    ("source", "write"),
    [
        ("Delivery.objects.filter(pk=1).update(state='dead')", "line 1: .update() on a Delivery"),
        ("message.deliveries.all().update(sent_at=None)", "line 1: .update() on a Delivery"),
        ("Delivery.objects.bulk_update(rows, ['state'])", "line 1: .bulk_update() on a Delivery"),
        ("Delivery(pk=1, message=m)", "line 1: Delivery(...) built"),
        ("delivery.state = DeliveryState.DEAD", "line 1: .state set to a DeliveryState"),
        ("table = Delivery._meta.db_table", "line 1: SQL on the Delivery table"),
    ],
)
def test_the_scan_finds_each_kind_of_write(source: str, write: str) -> None:
    assert delivery_writes(source) == [write]


def test_the_scan_passes_reads_and_other_models() -> None:
    source = (
        "Delivery.objects.filter(pk=1).values_list('pk')\n"
        "Delivery.objects.select_for_update().filter(state=DeliveryState.DEAD)\n"
        "IdempotencyKey.objects.filter(pk=1).update(state='completed')\n"
        "epoch.save(update_fields=['run_id'])\n"
    )
    assert delivery_writes(source) == []
