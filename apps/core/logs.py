"""Log lines an operator can read: optional JSON, delivery context on every line, one line per 4xx.

- `SWITCHBOARD_LOG_FORMAT=json` writes each record as one JSON object (`JsonFormatter`):
  time, level, logger, message, the delivery context, and the traceback if any.
- `log_context(...)` (or `log_context_set`/`log_context_clear` across two signals) puts
  fields on every record logged meanwhile in this thread (`ContextFilter`): a delivery's
  attempt sets its message id, subscription and delivery id, so the worker's lines, the
  handler's own and Celery's task lines carry them.
- `ClientErrorFilter`: Django logs each 4xx once on `django.request`, with the
  exception's traceback when the 4xx came from an exception; a 4xx is the client's
  mistake, so its line keeps no traceback, and a `django.security` line (a suspicious
  request) takes the place of the `Bad Request` line that follows it.
"""

import contextlib
import logging
from collections.abc import Iterator
from contextvars import ContextVar
from datetime import UTC, datetime

import orjson

# Fields of the delivery context, in the order JSON lines show them.
CONTEXT_FIELDS = ("message_id", "subscription", "delivery_id", "delivery_ids")

_context: ContextVar[dict[str, object] | None] = ContextVar("switchboard_log_context", default=None)


@contextlib.contextmanager
def log_context(**fields: object) -> Iterator[None]:
    """Add `fields` to every record logged in this block (nested blocks add to the outer ones)."""
    token = _context.set({**(_context.get() or {}), **fields})
    try:
        yield
    finally:
        _context.reset(token)


def log_context_set(**fields: object) -> None:
    """Start a context that `log_context_clear` ends (for a pair of signals, e.g. around a task)."""
    _context.set(fields)


def log_context_update(**fields: object) -> None:
    """Add fields to a context started by `log_context_set` (nothing when none was started)."""
    current = _context.get()
    if current is not None:
        _context.set({**current, **fields})


def log_context_clear() -> None:
    _context.set(None)


class ContextFilter(logging.Filter):
    """Put the current context's fields on each record (an `extra=` of the call wins)."""

    def filter(self, record: logging.LogRecord) -> bool:
        for name, value in (_context.get() or {}).items():
            if not hasattr(record, name):
                setattr(record, name, value)
        return True


class ClientErrorFilter(logging.Filter):
    """One line per 4xx, without a traceback (see above); other records pass unchanged."""

    def filter(self, record: logging.LogRecord) -> bool:
        request = getattr(record, "request", None)
        if record.name.startswith("django.security."):
            record.levelno, record.levelname = logging.WARNING, "WARNING"
            record.exc_info, record.exc_text = None, None
            if request is not None:
                request._switchboard_logged = True  # marks the request for the line below
            return True
        if record.name == "django.request" and 400 <= getattr(record, "status_code", 0) < 500:
            if getattr(request, "_switchboard_logged", False):
                return False  # the security line said it
            record.exc_info, record.exc_text = None, None
        return True


class JsonFormatter(logging.Formatter):
    """Format a record as one JSON line."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in CONTEXT_FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                line[name] = value
        status_code = getattr(record, "status_code", None)
        if status_code is not None:
            line["status"] = status_code
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(line, default=str).decode()
