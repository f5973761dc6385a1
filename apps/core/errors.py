"""Switchboard's error hierarchy.

Every error Switchboard raises on purpose derives from `SwitchboardError`, which carries
what an API answers for it: an HTTP `status`, a `code` (the slug of its problem type,
https://switchboard.dev/problems/<code>) and a `title` that is the same for every
occurrence; the message is the detail. One DRF exception handler
(`apps.core.api.problems.problem_exception_handler`) renders every one as RFC 9457
problem details, so views never map errors by hand; management commands
(`apps.core.management.base.SwitchboardCommand`) print it as one line.

A new error is named `...Error`, lives beside the code that raises it, sets its own
`status`, `code` and `title` (a stable slug and name, never per occurrence), and gets a
row in tests/core/test_error_hierarchy.py. Services, selectors and views raise it; field
errors go in `errors=`; a list of answers (the batch endpoint) builds each body with
`apps.core.api.problems.problem_body`.

Handlers raise `RetryableError` for a failure that may pass, and `PermanentError` for
one that never will (bad data, a rejected request): permanent errors skip the remaining
attempts and go to the dead-letter queue.
"""

from collections.abc import Mapping
from typing import Any


class SwitchboardError(Exception):
    """Base of Switchboard's own errors; every subclass sets its own `status`, `code` and `title`.

    `errors` (optional) names what is wrong field by field, e.g. `{"payload": ["Too big."]}`;
    it is the problem's `errors` member, and the message when none is given.
    """

    status: int = 500
    code: str = "internal-error"
    title: str = "Internal error"

    def __init__(self, *args: object, errors: Mapping[str, Any] | None = None) -> None:
        super().__init__(*(args or ([errors_text(errors)] if errors else [])))
        self.errors = errors

    def problem_fields(self) -> dict[str, Any]:
        """Return members of the problem body beyond type, title, status and detail (e.g. `errors`)."""
        return {} if self.errors is None else {"errors": self.errors}

    def problem_headers(self) -> dict[str, str]:
        """Return headers the answer carries (e.g. Retry-After)."""
        return {}


class PermanentError(SwitchboardError):
    """A failure that retrying cannot fix; the delivery is dead-lettered at once."""

    status = 422
    code = "permanent-error"
    title = "Permanent error"


class RetryableError(SwitchboardError):
    """A failure that may pass; the delivery is retried after the subscription's backoff.

    `retry_after` (seconds) asks for a longer wait than the backoff, e.g. from an HTTP
    Retry-After header.
    """

    status = 503
    code = "retryable-error"
    title = "Retryable error"

    def __init__(self, *args: object, retry_after: float | None = None) -> None:
        super().__init__(*args)
        self.retry_after = retry_after


def errors_text(errors: object) -> str:
    """Say field errors in one line: `{"a": ["x", "y"], "b": {"c": ["z"]}}` -> "a: x y; b: c: z"."""
    if isinstance(errors, Mapping):
        return "; ".join(f"{name}: {errors_text(value)}" for name, value in errors.items())
    if isinstance(errors, list | tuple):
        return " ".join(errors_text(item) for item in errors)
    return str(errors)


def error_summary(error: str | None) -> str | None:
    """Return the last line of an error (what went wrong, without the traceback above it), or None if blank."""
    lines = (error or "").strip().splitlines()
    return lines[-1] if lines else None
