"""Raw Celery, the peer: one task doing the handler work, configured as Switchboard's tasks are.

acks_late and prefetch 1 as in project/celery.py; JSON only; no results. The publish
time travels in the task's arguments. Workers run
`celery -A bench.raw_celery worker -Q bench.raw ...` (bench.systems starts them).
"""

import os

from celery import Celery
from celery.signals import worker_ready

from bench import workload

QUEUE = workload.RAW_CELERY_QUEUE

app = Celery("bench_raw")
app.conf.update(
    broker_url=os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:1/0"),
    broker_connection_retry_on_startup=True,
    task_serializer="json",
    accept_content=["json"],
    task_acks_late=True,
    worker_prefetch_multiplier=1,
    task_ignore_result=True,
    task_default_queue=QUEUE,
    worker_hijack_root_logger=False,
)


@app.task(name="bench.raw_handle")
def raw_handle(payload: dict[str, object], published_at: float) -> None:
    workload.handle(published_at)


@worker_ready.connect
def _ready(**kwargs: object) -> None:
    workload.mark_ready()
