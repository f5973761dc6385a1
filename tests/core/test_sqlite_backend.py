"""SQLite write transactions queue on a file lock (apps.core.sqlite_backend)."""

import fcntl
import os
import threading
import time

import pytest
from django.db import OperationalError, connection, transaction

from apps.core.sqlite_backend.base import write_lock_path
from apps.topology.models import Topic

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "sqlite", reason="SQLite's backend only"),
]


def test_a_second_write_transaction_waits_for_the_first_and_then_commits() -> None:
    first_began, let_first_commit = threading.Event(), threading.Event()
    times: dict[str, float] = {}
    errors: list[BaseException] = []

    def first() -> None:
        try:
            with transaction.atomic():
                Topic.objects.create(name="first")
                first_began.set()
                let_first_commit.wait(5)
                times["first_committing"] = time.monotonic()
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    def second() -> None:
        try:
            first_began.wait(5)
            with transaction.atomic():
                times["second_began"] = time.monotonic()
                Topic.objects.create(name="second")
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    first_began.wait(5)
    time.sleep(0.2)  # the second writer is waiting now
    let_first_commit.set()
    for thread in threads:
        thread.join(10)

    assert errors == []
    assert times["second_began"] > times["first_committing"]
    assert sorted(Topic.objects.values_list("name", flat=True)) == ["first", "second"]


def test_a_writer_that_cannot_get_the_lock_in_time_fails_as_database_is_locked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(connection.settings_dict["OPTIONS"], "timeout", 0.2)
    holder = os.open(write_lock_path(connection.settings_dict["NAME"]), os.O_RDWR | os.O_CREAT)
    fcntl.flock(holder, fcntl.LOCK_EX)  # another process's write transaction
    try:
        with pytest.raises(OperationalError, match="database is locked"), transaction.atomic():
            Topic.objects.create(name="blocked")
    finally:
        fcntl.flock(holder, fcntl.LOCK_UN)
        os.close(holder)

    with transaction.atomic():  # the lock was given back, not kept by the failed attempt
        Topic.objects.create(name="after")
    assert list(Topic.objects.values_list("name", flat=True)) == ["after"]
