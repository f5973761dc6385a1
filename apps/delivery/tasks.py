"""Celery tasks of the delivery app: thin adapters around services."""

from celery import shared_task


@shared_task(name="delivery.deliver", acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def deliver(delivery_id: int) -> str:
    """Run one attempt of a delivery (sent to its subscription's queue, sb.<name>)."""
    from apps.delivery import services

    return services.delivery_attempt(delivery_id=delivery_id)


@shared_task(name="delivery.deliver_batch", acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def deliver_batch(delivery_ids: list[int]) -> list[str]:
    """Run one attempt of each delivery of a batch (subscriptions with batch_size > 1)."""
    from apps.delivery import services

    return services.delivery_attempt_batch(delivery_ids=delivery_ids)
