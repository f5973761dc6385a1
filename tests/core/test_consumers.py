"""Tests for apps.core.consumers: the @consumer decorator and lookups."""

from collections.abc import Iterator

import pytest

from apps.core.consumers import (
    DEFAULT_RETRY_FOR,
    Consumer,
    ReceivedMessage,
    UnknownConsumerError,
    consumer,
    consumer_exists,
    consumer_get,
    consumer_names,
    consumers_isolated,
)
from apps.core.errors import RetryableError


@pytest.fixture(autouse=True)
def _isolated_registry() -> Iterator[None]:
    """Forget this module's consumers after each test, so other tests see the real registry."""
    with consumers_isolated():
        yield


def _handle(message: ReceivedMessage) -> None:
    """Accept any message."""


def _other(message: ReceivedMessage) -> None:
    """Accept any message, differently."""


def test_decorator_registers_the_handler_and_returns_it_unchanged() -> None:
    decorated = consumer("test-audit")(_handle)

    assert decorated is _handle
    assert consumer_get("test-audit") == Consumer(
        name="test-audit", handler=_handle, transactional=True, retry_for=DEFAULT_RETRY_FOR
    )
    assert consumer_exists("test-audit") is True


def test_by_default_retryable_and_network_errors_are_retried() -> None:
    consumer("test-audit")(_handle)
    assert consumer_get("test-audit").retry_for == (RetryableError, ConnectionError, TimeoutError)


def test_decorator_options_are_kept() -> None:
    consumer("test-audit", transactional=False, retry_for=(KeyError,))(_handle)
    registered = consumer_get("test-audit")
    assert (registered.transactional, registered.retry_for) == (False, (KeyError,))


def test_a_second_handler_under_the_same_name_is_refused() -> None:
    consumer("test-audit")(_handle)
    with pytest.raises(ValueError, match=r"^A consumer named 'test-audit' is registered already \(_handle\)\.$"):
        consumer("test-audit")(_other)
    assert consumer_get("test-audit").handler is _handle


def test_registering_the_same_handler_again_is_harmless() -> None:
    consumer("test-audit")(_handle)
    consumer("test-audit")(_handle)
    assert consumer_get("test-audit").handler is _handle
    assert consumer_names().count("test-audit") == 1


def test_unknown_consumer_raises_a_lookup_error() -> None:
    with pytest.raises(UnknownConsumerError, match=r"^No consumer is registered as 'nope'\.$") as info:
        consumer_get("nope")
    assert isinstance(info.value, LookupError)
    assert consumer_exists("nope") is False


def test_demo_consumers_are_registered_at_start_up() -> None:
    assert {"inventory-reserve", "billing-charge"} <= set(consumer_names())
    assert consumer_names() == sorted(consumer_names())
    assert consumer_get("billing-charge").handler.__module__ == "apps.demo.consumers"


def test_consumers_registered_inside_an_isolated_block_are_forgotten_after_it() -> None:
    before = consumer_names()

    with consumers_isolated():
        consumer("test-isolated")(_handle)
        assert consumer_exists("test-isolated") is True
        assert set(before) < set(consumer_names())

    assert consumer_exists("test-isolated") is False
    assert consumer_names() == before
