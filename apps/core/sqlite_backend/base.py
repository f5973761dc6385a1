"""Django's SQLite backend, with write transactions that queue on a file lock.

Web, workers, relay and beat write to one SQLite file. A write transaction (`BEGIN
IMMEDIATE`, see the settings) that finds another holding the write lock is retried by
SQLite's busy handler after sleeping 1, 2, 5, 10, … ms, so each waiting transaction
lost a millisecond or more for a lock held some hundred microseconds. Here a write
transaction first takes an exclusive `flock` on `<database>.writelock`, waiting for it
in the kernel (which wakes the next writer the moment the lock is free), then begins:
writers take turns without sleeping. Measured (`bench`, per-message, two worker
processes): latency at half load p50 6.0 → 1.9 ms and p99 34 → 11 ms; HTTP publish
630 → 740 req/s; drain within the run-to-run noise.

A writer that still cannot get the lock after the database's `timeout` option fails
with "database is locked", as SQLite's own wait does. Statements outside a transaction
(autocommit) and in-memory databases do not take the file lock.
"""

import contextlib
import fcntl
import os
import threading

from django.db import OperationalError
from django.db.backends.sqlite3 import base, creation


def _flock_waiting(fd: int, timeout: float) -> bool:
    """Wait up to `timeout` seconds for the exclusive lock on `fd`; return whether it was taken.

    The blocking `flock` runs in a helper thread, so the kernel wakes it the moment the
    lock is free. When the caller gives up, the descriptor is the helper's: it gives back
    a lock that comes later and closes the descriptor (the caller opens a new one).
    """
    taken, gave_up = threading.Event(), threading.Event()
    guard = threading.Lock()

    def wait() -> None:
        fcntl.flock(fd, fcntl.LOCK_EX)
        with guard:
            if gave_up.is_set():
                fcntl.flock(fd, fcntl.LOCK_UN)
                os.close(fd)
            else:
                taken.set()

    threading.Thread(target=wait, name="sqlite-write-lock", daemon=True).start()
    if taken.wait(timeout):
        return True
    with guard:
        gave_up.set()
        return taken.is_set()


def write_lock_path(database: str) -> str:
    return f"{database}.writelock"


class DatabaseCreation(creation.DatabaseCreation):
    def _destroy_test_db(self, test_database_name: str, verbosity: int) -> None:
        """Remove the test database's lock file with it."""
        super()._destroy_test_db(test_database_name, verbosity)  # type: ignore[misc] # not in django-stubs
        if test_database_name and not self.is_in_memory_db(test_database_name):
            with contextlib.suppress(FileNotFoundError):
                os.remove(write_lock_path(test_database_name))


class DatabaseWrapper(base.DatabaseWrapper):
    creation_class = DatabaseCreation
    _write_lock_fd: int | None = None
    _write_lock_pid: int | None = None
    _write_locked = False

    def _start_transaction_under_autocommit(self) -> None:
        if getattr(self, "transaction_mode", None) == "IMMEDIATE" and not self.is_in_memory_db():
            self._write_lock_take()
        try:
            super()._start_transaction_under_autocommit()  # type: ignore[misc] # not in django-stubs
        except BaseException:
            self._write_lock_release()
            raise

    def _commit(self) -> None:
        try:
            super()._commit()  # type: ignore[misc] # not in django-stubs
        finally:
            self._write_lock_release()

    def _rollback(self) -> None:
        try:
            super()._rollback()  # type: ignore[misc] # not in django-stubs
        finally:
            self._write_lock_release()

    def _close(self) -> None:
        try:
            super()._close()  # type: ignore[misc] # not in django-stubs
        finally:
            self._write_lock_release()

    def _write_lock_take(self) -> None:
        fd = self._write_lock_file()
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            timeout = float(self.settings_dict["OPTIONS"].get("timeout", 5))
            if not _flock_waiting(fd, timeout):
                self._write_lock_fd = None  # the waiting helper closes it
                raise OperationalError("database is locked (another process holds its write lock)") from None
        self._write_locked = True

    def _write_lock_release(self) -> None:
        if self._write_locked and self._write_lock_fd is not None and self._write_lock_pid == os.getpid():
            fcntl.flock(self._write_lock_fd, fcntl.LOCK_UN)
        self._write_locked = False

    def _write_lock_file(self) -> int:
        """Open this connection's descriptor of the lock file (a new one in a forked child,
        whose inherited descriptor would share the parent's lock)."""
        if self._write_lock_fd is None or self._write_lock_pid != os.getpid():
            path = write_lock_path(str(self.settings_dict["NAME"]))
            self._write_lock_fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            self._write_lock_pid = os.getpid()
        return self._write_lock_fd
