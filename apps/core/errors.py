"""Error types that decide what happens to a failed delivery.

A handler raises `RetryableError` (or any exception it does not classify) for a failure
that may pass, and `PermanentError` for one that never will: bad data, a rejected
request. Permanent errors skip the remaining attempts and go to the dead-letter queue.
"""


class SwitchboardError(Exception):
    """Base of Switchboard's own errors."""


class PermanentError(SwitchboardError):
    """A failure that retrying cannot fix; the delivery is dead-lettered at once."""


class RetryableError(SwitchboardError):
    """A failure that may pass; the delivery is retried after the subscription's backoff."""
