"""What Sentry hears of deliveries: one error event per dead letter, a breadcrumb per retry.

A handler's failure is caught by the attempt (it is an outcome, not a crash), so the
Celery integration never sees it. A retry is expected and adds only a breadcrumb, which
shows on any later event of the same task; a dead letter is captured once, as an error
tagged with its subscription, message id, attempts and reason, with the handler's
exception (and traceback) when there is one. Without SENTRY_DSN these calls do nothing.
"""

import sentry_sdk

from apps.deadletters.models import DeadLetterReason
from apps.delivery.models import Delivery


def retry_breadcrumb(*, delivery: Delivery, attempt: int, error: BaseException, delay: float) -> None:
    sentry_sdk.add_breadcrumb(
        category="delivery.retry",
        level="warning",
        message=f"Attempt {attempt} of delivery {delivery.pk} failed; retrying in {delay:.1f} s",
        data={
            "subscription": delivery.subscription.name,
            "message_id": str(delivery.message_id),
            "attempt": attempt,
            "error": f"{type(error).__name__}: {error}",
        },
    )


def dead_letter_report(
    *, delivery: Delivery, reason: DeadLetterReason, attempts: int, error: str, exc: BaseException | None = None
) -> None:
    """Capture the delivery's death as one error event (with `exc`'s traceback when given)."""
    with sentry_sdk.new_scope() as scope:
        scope.set_tag("subscription", delivery.subscription.name)
        scope.set_tag("message_id", str(delivery.message_id))
        scope.set_tag("attempts", str(attempts))
        scope.set_tag("dead_letter_reason", reason.value)
        scope.set_context("delivery", {"id": delivery.pk, "topic": delivery.message.topic.name, "error": error[-2000:]})
        scope.fingerprint = ["dead-letter", delivery.subscription.name, reason.value]
        if attempts > 1:
            sentry_sdk.add_breadcrumb(
                category="delivery.retry",
                level="warning",
                message=f"{attempts - 1} earlier attempt(s) failed and were retried",
            )
        if exc is not None:
            sentry_sdk.capture_exception(exc)
        else:
            last_line = error.strip().splitlines()[-1] if error.strip() else reason.label
            sentry_sdk.capture_message(f"Dead letter ({reason.value}): {last_line}", level="error")
