"""Delete published outbox rows past their retention (consumers prune their own rows)."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone

from kafka_bridge.models import OutboxEvent


def prune(*, now: datetime | None = None) -> int:
    """Delete published outbox rows older than KAFKA_OUTBOX_RETENTION_HOURS (an outbox row's age
    is counted from when it was written: it is published moments later); returns how many."""
    cutoff = (now or timezone.now()) - timedelta(hours=settings.KAFKA_OUTBOX_RETENTION_HOURS)
    deleted, _ = OutboxEvent.objects.filter(pending__isnull=True, created_at__lt=cutoff).delete()
    return deleted
