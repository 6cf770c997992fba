"""Skip redelivered events: the per-group record of processed event ids, and its pruning."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import connection
from django.utils import timezone

from kafka_bridge.models import ProcessedEvent

# Inserted first in the handler's transaction: a concurrent duplicate (another member during a
# rebalance) waits on the unique index and then sees the row.
_CLAIM_SQL = (
    'INSERT INTO kafka_bridge_processedevent ("group", event_id, processed_at) '
    "VALUES (%s, %s, now()) ON CONFLICT DO NOTHING RETURNING id"
)


def first_delivery(group: str, event_id: str) -> bool:
    """Record `event_id` as processed for `group` (inside the caller's transaction); False if
    it already was."""
    with connection.cursor() as cursor:
        cursor.execute(_CLAIM_SQL, [group, event_id])
        return cursor.fetchone() is not None


_CLAIM_MANY_SQL = (
    'INSERT INTO kafka_bridge_processedevent ("group", event_id, processed_at) '
    "SELECT %s, unnest(%s::uuid[]), now() ON CONFLICT DO NOTHING RETURNING event_id"
)


def first_deliveries(group: str, event_ids: Iterable[str]) -> set[str]:
    """`first_delivery` for a batch handler, in one statement: records every id of `event_ids`
    as processed for `group` and returns those that were not yet (inside the caller's
    transaction). Ids must be UUIDs."""
    ids = list(dict.fromkeys(str(event_id) for event_id in event_ids))
    if not ids:
        return set()
    with connection.cursor() as cursor:
        cursor.execute(_CLAIM_MANY_SQL, [group, ids])
        return {str(row[0]) for row in cursor.fetchall()}


def record_processed(group: str, event_ids: Iterable[Any]) -> None:
    """Record the ids a batch handler processed, as the per-record path does (repeats ignored)."""
    rows = [ProcessedEvent(group=group, event_id=event_id) for event_id in set(event_ids)]
    if rows:
        ProcessedEvent.objects.bulk_create(rows, ignore_conflicts=True)


def prune(*, now: datetime | None = None) -> int:
    """Delete processed-event ids older than KAFKA_PROCESSED_EVENTS_RETENTION_DAYS."""
    cutoff = (now or timezone.now()) - timedelta(days=settings.KAFKA_PROCESSED_EVENTS_RETENTION_DAYS)
    deleted, _ = ProcessedEvent.objects.filter(processed_at__lt=cutoff).delete()
    return deleted
