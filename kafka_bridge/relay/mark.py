"""Record delivery reports: delivered rows no longer pending, refused rows rejected, failures counted."""

from __future__ import annotations

import logging
import os
import time
from collections import Counter

from confluent_kafka import KafkaError
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from core.logging import EACH_LINE
from kafka_bridge import metrics
from kafka_bridge.models import OutboxEvent, OutboxPending
from kafka_bridge.relay.claim import Row
from kafka_bridge.topics import max_record_bytes

logger = logging.getLogger(__name__)

LAST_ERROR_LENGTH = 1000
# Event ids listed per "outbox events published" line (the count is always complete).
LOGGED_EVENT_IDS = 20
# TESTS ONLY (tests/faults/test_relay_kills.py), off unless set: seconds to pause after a round's
# delivery reports and before its DELETE, announced by a "relay fault point" log line listing
# the round's rows, so that a SIGKILL provably lands between produce and mark. Never set it in
# a deployment: every round would wait this long.
FAULT_PAUSE_BEFORE_MARK = float(os.environ.get("KAFKA_RELAY_FAULT_PAUSE_BEFORE_MARK") or 0)

# One statement per round of delivery reports, deleting narrow rows only.
MARK_SQL = 'DELETE FROM "kafka_bridge_outboxpending" WHERE id = ANY(%s::bigint[])'

# Delivery errors no retry can mend when the record itself is at fault. A size error names a
# whole batch: only a record over the topics' limit on its own is rejected, a neighbour batched
# with it is retried (and `batch.size` keeps batches of small records under that limit).
SIZE_ERRORS = frozenset({KafkaError.MSG_SIZE_TOO_LARGE, KafkaError.RECORD_LIST_TOO_LARGE})


def id_array(ids: list[int]) -> str:
    """`ids` as one PostgreSQL array literal: psycopg would quote 2,000 ints one by one."""
    return "{" + ",".join(map(str, ids)) + "}"


def _record_bytes(row: Row) -> int:
    _row_id, _topic, key, value, headers = row
    return len(value.encode()) + len(key.encode()) + sum(len(k) + len(str(v).encode()) for k, v in headers.items())


def is_rejection(row: Row, error: KafkaError) -> bool:
    """The broker (or the producer's own limit) refused this record for good."""
    if error.code() == KafkaError.INVALID_RECORD:
        return True
    return error.code() in SIZE_ERRORS and _record_bytes(row) > max_record_bytes()


def _fault_pause_before_mark(delivered: list[Row]) -> None:
    """The test-only fault point (FAULT_PAUSE_BEFORE_MARK): acknowledged rows, not yet marked."""
    logger.warning(
        "relay fault point: delivered, not yet marked",
        extra={
            "outbox_ids": [row[0] for row in delivered],
            "event_ids": sorted({row[4].get("ce_id") for row in delivered}),
            "pause_seconds": FAULT_PAUSE_BEFORE_MARK,
        },
    )
    time.sleep(FAULT_PAUSE_BEFORE_MARK)


def mark(delivered: list[Row], failed: list[tuple[Row, KafkaError]]) -> None:
    """Record delivery reports: delivered rows published (one DELETE of their pending rows);
    rejected ones no longer pending, with `rejected_at` and the reason; other failures with
    their error (they stay pending, keep their place and are retried)."""
    if delivered:
        if FAULT_PAUSE_BEFORE_MARK:
            _fault_pause_before_mark(delivered)
        with connection.cursor() as cursor:
            cursor.execute(MARK_SQL, [id_array([row[0] for row in delivered])])
        for topic, count in Counter(row[1] for row in delivered).items():
            metrics.EVENTS_PUBLISHED.labels(topic).inc(count)
        _log_published(delivered)
    retried = [(row, error) for row, error in failed if not is_rejection(row, error)]
    for row, error in failed:
        rejected = is_rejection(row, error)
        with transaction.atomic():
            OutboxEvent.objects.filter(id=row[0]).update(
                attempts=F("attempts") + 1,
                last_error=str(error)[:LAST_ERROR_LENGTH],
                **({"rejected_at": timezone.now()} if rejected else {}),
            )
            if rejected:
                OutboxPending.objects.filter(event_id=row[0]).delete()
        if rejected:
            metrics.EVENTS_REJECTED.labels(row[1], error.name()).inc()
            logger.error(
                "outbox row rejected by Kafka; marked rejected, the rest goes on",
                extra={"outbox_id": row[0], "topic": row[1], "event_id": row[4].get("ce_id"), "error": str(error)},
            )
        else:
            metrics.EVENTS_FAILED.labels(row[1]).inc()
    if retried:
        logger.warning(
            "outbox rows not delivered; they will be retried",
            extra={"failed": len(retried), "first_error": str(retried[0][1])},
        )


def _log_published(rows: list[Row]) -> None:
    """One line per correlation id of the delivered rows, so a request can be followed from the
    web log through the relay: as many lines as requests caused events, not one per row. Written
    by one logging call (EACH_LINE), since a call per line costs the relay per correlation id."""
    if not logger.isEnabledFor(logging.INFO):
        return  # grouping a backlog's rows costs the relay's thread time for nothing
    by_correlation: dict[str | None, list[Row]] = {}
    for row in rows:
        by_correlation.setdefault(row[4].get("correlation_id"), []).append(row)
    logger.info(
        "outbox events published",
        extra={
            EACH_LINE: [
                {
                    "correlation_id": correlation_id,
                    "events": len(published),
                    "event_ids": sorted({row[4]["ce_id"] for row in published if "ce_id" in row[4]})[:LOGGED_EVENT_IDS],
                    "topics": sorted({row[1] for row in published}),
                }
                for correlation_id, published in by_correlation.items()
            ]
        },
    )
