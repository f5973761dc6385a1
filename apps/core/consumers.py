"""The registry of Python consumers, filled by the @consumer decorator.

    from apps.core.consumers import ReceivedMessage, consumer

    @consumer("inventory-reserve")
    def reserve(message: ReceivedMessage) -> None: ...

Modules named `consumers.py` in installed apps are imported at start-up (see
apps.delivery.apps), so their decorators run in every process. The registry lives in
core, below every app: topology checks that a subscription names a registered consumer,
delivery runs it (apps.delivery.consumers). Tests register theirs inside
`consumers_isolated()`.
"""

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from apps.core.errors import RetryableError, SwitchboardError

# Errors that may pass and are worth another attempt. Anything else a handler raises is a
# bug or bad data: retrying cannot fix it, so it goes to the dead-letter queue at once.
DEFAULT_RETRY_FOR: tuple[type[BaseException], ...] = (RetryableError, ConnectionError, TimeoutError)


@dataclass(frozen=True)
class ReceivedMessage:
    """What a handler receives: the message as published, and which attempt this is."""

    id: str
    topic: str
    payload: Any
    attributes: dict[str, str]
    key: str
    published_at: datetime
    subscription: str
    attempt: int


Handler = Callable[[ReceivedMessage], None]


@dataclass(frozen=True)
class Consumer:
    name: str
    handler: Handler
    # Run the handler and record its success in one database transaction, so a handler
    # whose effects are writes to Switchboard's database takes effect exactly once.
    transactional: bool
    retry_for: tuple[type[BaseException], ...]


class UnknownConsumerError(SwitchboardError, LookupError):
    """No consumer is registered under the name a subscription's handler gives."""

    status = 500
    code = "unknown-consumer"
    title = "Unknown consumer"


_consumers: dict[str, Consumer] = {}


def consumer(
    name: str, *, transactional: bool = True, retry_for: tuple[type[BaseException], ...] = DEFAULT_RETRY_FOR
) -> Callable[[Handler], Handler]:
    """Register the decorated function as the consumer called `name`."""

    def register(handler: Handler) -> Handler:
        existing = _consumers.get(name)
        if existing is not None and existing.handler is not handler:
            raise ValueError(f"A consumer named {name!r} is registered already ({existing.handler.__qualname__}).")
        _consumers[name] = Consumer(name=name, handler=handler, transactional=transactional, retry_for=retry_for)
        return handler

    return register


def consumer_get(name: str) -> Consumer:
    try:
        return _consumers[name]
    except KeyError:
        raise UnknownConsumerError(f"No consumer is registered as {name!r}.") from None


def consumer_exists(name: str) -> bool:
    return name in _consumers


def consumer_names() -> list[str]:
    return sorted(_consumers)


@contextmanager
def consumers_isolated() -> Iterator[None]:
    """Let a block (a test) register consumers that are forgotten when it ends.

    The consumers registered before it stay registered, inside and after it.
    """
    saved = dict(_consumers)
    try:
        yield
    finally:
        _consumers.clear()
        _consumers.update(saved)
