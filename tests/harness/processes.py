"""One command run as a managed process: its own session, its own log file, stopped by id.

Each process runs in a session of its own, so it can be signalled as a group (a prefork
parent with its children, Dramatiq's supervisor with its workers), by its own id and
never by name.
"""

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
# Ports other Redis servers on this machine use: the default and `make run`'s.
RESERVED_PORTS = frozenset({6379, 6390})
LOG_TAIL_CHARS = 3000


class HarnessError(AssertionError):
    """A process did not come up or exited, or a wait timed out.

    An AssertionError, so pytest reports it as a failed test with its message.
    """


def free_port() -> int:
    """Return a loopback port nothing listens on (never one of RESERVED_PORTS)."""
    while True:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
        if port not in RESERVED_PORTS:
            return port


def wait_until(predicate: Callable[[], object], *, timeout: float, interval: float = 0.1, what: str = "") -> None:
    """Poll `predicate` until it is truthy; fail after `timeout` seconds saying what was awaited."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval)
    raise HarnessError(f"timed out after {timeout:g} s waiting for {what or predicate}")


@dataclass
class ManagedProcess:
    name: str
    args: list[str]
    env: dict[str, str]
    log_path: Path
    popen: subprocess.Popen[bytes] | None = None
    cwd: Path = ROOT

    def start(self) -> "ManagedProcess":
        """Start the command in `cwd` (the project's root), appending its output to the log file."""
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self.popen = subprocess.Popen(
                self.args, cwd=self.cwd, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        return self

    @property
    def pid(self) -> int:
        assert self.popen is not None, f"{self.name} was never started"
        return self.popen.pid

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def log_tail(self, chars: int = LOG_TAIL_CHARS) -> str:
        return self.log()[-chars:]

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def check_alive(self) -> None:
        """Fail with the tail of the log if the process has exited."""
        if not self.alive():
            returncode = self.popen.returncode if self.popen is not None else None
            raise HarnessError(f"{self.name} exited ({returncode}):\n{self.log_tail()}")

    def wait_for_log(self, text: str, *, timeout: float = 30.0, occurrences: int = 1) -> None:
        """Wait until the log holds `text` `occurrences` times; fail early if the process exits."""

        def seen() -> bool:
            self.check_alive()
            return self.log().count(text) >= occurrences

        try:
            wait_until(seen, timeout=timeout, what=f"{self.name} to log {text!r}")
        except HarnessError as exc:
            raise HarnessError(f"{exc}\n--- {self.name} log ---\n{self.log_tail()}") from None

    def signal_group(self, signum: int) -> None:
        """Send `signum` to the process and every child (the whole session)."""
        if self.alive():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.pid, signum)

    def pause(self) -> None:
        """SIGSTOP the group: it holds its connections and state, and does nothing."""
        self.signal_group(signal.SIGSTOP)

    def resume(self) -> None:
        self.signal_group(signal.SIGCONT)

    def stop(self, *, timeout: float = 20.0) -> None:
        """SIGTERM the group (after SIGCONT, in case it is paused); SIGKILL it if it does not exit in time."""
        if self.popen is None:
            return
        if self.alive():
            self.resume()
            self.signal_group(signal.SIGTERM)
            try:
                self.popen.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.signal_group(signal.SIGKILL)
                self.popen.wait(timeout=10)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.pid, signal.SIGKILL)  # leftover children, if any

    def kill(self) -> None:
        """SIGKILL the whole process group, as a crash or the OOM killer would."""
        if self.popen is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.pid, signal.SIGKILL)
        self.popen.wait(timeout=10)
