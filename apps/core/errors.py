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
    """A failure that may pass; the delivery is retried after the subscription's backoff.

    `retry_after` (seconds) asks for a longer wait than the backoff, e.g. from an HTTP
    Retry-After header.
    """

    def __init__(self, *args: object, retry_after: float | None = None) -> None:
        super().__init__(*args)
        self.retry_after = retry_after
