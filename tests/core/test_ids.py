"""Tests for apps.core.ids (UUIDv7, RFC 9562)."""

import time
import types
import uuid

import pytest

from apps.core import ids
from apps.core.ids import uuid7

# 2024-01-02T03:04:05.678Z in Unix milliseconds.
FIXED_MS = 1_704_164_645_678


def _freeze_clock(monkeypatch: pytest.MonkeyPatch, unix_ms: int) -> None:
    fake_time = types.SimpleNamespace(time_ns=lambda: unix_ms * 1_000_000 + 123_456)
    monkeypatch.setattr(ids, "time", fake_time)


def test_uuid7_has_version_7_and_rfc_variant() -> None:
    value = uuid7()
    assert isinstance(value, uuid.UUID)
    assert value.version == 7
    assert value.variant == uuid.RFC_4122
    assert (value.int >> 76) & 0xF == 7
    assert (value.int >> 62) & 0b11 == 0b10


def test_uuid7_starts_with_the_unix_milliseconds(monkeypatch: pytest.MonkeyPatch) -> None:
    _freeze_clock(monkeypatch, FIXED_MS)
    value = uuid7()
    assert value.int >> 80 == FIXED_MS
    assert str(value).startswith(f"{FIXED_MS:012x}"[:8] + "-" + f"{FIXED_MS:012x}"[8:])


def test_uuid7_in_the_same_millisecond_differ_in_random_bits(monkeypatch: pytest.MonkeyPatch) -> None:
    _freeze_clock(monkeypatch, FIXED_MS)
    values = [uuid7() for _ in range(200)]
    assert len(set(values)) == 200
    assert {value.int >> 80 for value in values} == {FIXED_MS}
    assert {value.version for value in values} == {7}


def test_uuid7_sorts_by_millisecond(monkeypatch: pytest.MonkeyPatch) -> None:
    generated = []
    for offset in range(50):
        _freeze_clock(monkeypatch, FIXED_MS + offset)
        generated.append(uuid7())
    assert sorted(generated) == generated
    assert sorted(str(value) for value in generated) == [str(value) for value in generated]


def test_uuid7_timestamp_is_the_current_time() -> None:
    before = time.time_ns() // 1_000_000
    value = uuid7()
    after = time.time_ns() // 1_000_000
    assert before <= value.int >> 80 <= after
