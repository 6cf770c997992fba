"""The outbox backlog: whether rows are pending, and the gauges of its size and age."""

from __future__ import annotations

import time

from django.db.models import Count, Min
from django.utils import timezone

from kafka_bridge import metrics
from kafka_bridge.models import OutboxEvent, OutboxPending

# Seconds between refreshes of the backlog gauges while they show none (scrapes are 15 s apart).
BACKLOG_METRICS_SECONDS = 1.0

# What the backlog gauges last showed, and when (monotonic).
backlog_seen: dict[str, float] = {"count": 0, "at": float("-inf")}


def has_pending() -> bool:
    return OutboxPending.objects.exists()


def update_backlog_metrics() -> tuple[int, float]:
    backlog = OutboxEvent.objects.filter(pending__isnull=False).aggregate(count=Count("id"), oldest=Min("created_at"))
    count, oldest = backlog["count"], backlog["oldest"]
    age = (timezone.now() - oldest).total_seconds() if oldest else 0.0
    metrics.OUTBOX_BACKLOG.set(count)
    metrics.OUTBOX_OLDEST_AGE.set(age)
    backlog_seen.update(count=count, at=time.monotonic())
    return count, age


def refresh_backlog_metrics() -> None:
    """After a drain: the gauges again, at most every BACKLOG_METRICS_SECONDS while they show no
    backlog. Reading them after every drain would delay the next write's wake-up."""
    if backlog_seen["count"] or time.monotonic() - backlog_seen["at"] >= BACKLOG_METRICS_SECONDS:
        update_backlog_metrics()
