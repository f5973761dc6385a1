"""Retention of dead letters (registered in DeadLettersConfig.ready).

A dead letter is kept for SWITCHBOARD_DEAD_LETTER_RETENTION_DAYS (default 30) after it
was written, replayed or not, and then deleted (its `created_at` index); its message
goes later with the messages' retention (apps.publishing.retention).
"""

from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import QuerySet

from apps.core.retention import RetentionPolicy, retention_register
from apps.deadletters.models import DeadLetter


def dead_letters_due(now: datetime) -> "QuerySet[DeadLetter]":
    cutoff = now - timedelta(days=settings.SWITCHBOARD_DEAD_LETTER_RETENTION_DAYS)
    return DeadLetter.objects.filter(created_at__lt=cutoff).order_by()


def retention_policies_register() -> None:
    retention_register(
        RetentionPolicy(
            name="dead-letters",
            model=DeadLetter,
            due=dead_letters_due,
            description="dead letters past SWITCHBOARD_DEAD_LETTER_RETENTION_DAYS",
        )
    )
