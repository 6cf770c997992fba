"""The outbox relay: publishes outbox rows to Kafka in order and marks them published.

Ordering across several relays: one leader at a time. A relay publishes only while it holds a
PostgreSQL session advisory lock (`pg_try_advisory_lock`); the others stand by (the `--loop`
processes) or return at once (the Celery task woken on commit). The leader publishes pending rows
in id order, one batch at a time, with an idempotent producer, and marks a row published only
after its delivery report. So every key's events reach Kafka in the order they were recorded. If
the leader dies (even SIGKILL), PostgreSQL drops its lock with its connection; the next leader
re-publishes the rows that were produced but not yet marked: a duplicate with the same event id,
which consumers skip (processed events), in the original order.

Limit: if one row's delivery fails (after the producer's own retries, `message.timeout.ms`)
while a later row of the same key was acknowledged, the failed row is re-published after it.
The idempotent producer makes that rare (it fails the rest of the partition's queue too);
consumers must tolerate it as they tolerate the DLQ.

One leader is simple and fast enough here (the idempotent producer does ~166k records/s; the
UPDATE that marks rows is the limit); more throughput would need per-key claiming instead.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

from confluent_kafka import KafkaError, Message
from django.conf import settings
from django.db import InterfaceError, OperationalError, connection
from django.db.models import F, Min
from django.utils import timezone

from core import tracing
from kafka_bridge import metrics
from kafka_bridge.models import OutboxEvent, ProcessedEvent
from kafka_bridge.producer import FLUSH_TIMEOUT_SECONDS, get_producer
from kafka_bridge.producer import close as close_producer
from kafka_bridge.receivers import NOTIFY_CHANNEL

logger = logging.getLogger(__name__)

# The advisory lock key of the relay leader: any fixed bigint no other code uses.
LEADER_LOCK_KEY = 0x2B7E_1516_28AE_D2A6
DEFAULT_BATCH_SIZE = 500
LAST_ERROR_LENGTH = 1000
# Event ids listed per "outbox events published" line (the count is always complete).
LOGGED_EVENT_IDS = 20


@contextmanager
def leadership() -> Iterator[bool]:
    """Yield True while this process holds the relay lock, False if another relay does."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s)", [LEADER_LOCK_KEY])
        acquired = bool(cursor.fetchone()[0])
    try:
        yield acquired
    finally:
        if acquired and connection.connection is not None:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s)", [LEADER_LOCK_KEY])


def _encode(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


def publish_batch(batch_size: int = DEFAULT_BATCH_SIZE) -> tuple[int, int]:
    """Publish up to `batch_size` pending rows in id order. Only the leader may call this.

    Returns (published, failed). Rows are marked published only after their delivery report;
    failed rows keep their place and are retried by the next batch.
    """
    rows = list(
        OutboxEvent.objects.filter(published_at__isnull=True)
        .order_by("id")
        .values_list("id", "topic", "key", "value", "headers")[:batch_size]
    )
    if not rows:
        return 0, 0
    producer = get_producer()
    errors: dict[int, KafkaError | None] = {}
    topics: dict[int, str] = {}

    def on_delivery(row_id: int) -> Any:
        def report(error: KafkaError | None, message: Message) -> None:
            errors[row_id] = error

        return report

    for row_id, topic, key, value, headers in rows:
        topics[row_id] = topic
        # With OpenTelemetry on: a publish span, child of the context stored with the row.
        record_headers = tracing.publish_headers(headers, topic=topic, event_type=str(value.get("type", "")))
        while True:
            try:
                producer.produce(
                    topic,
                    key=key.encode(),
                    value=_encode(value),
                    headers=[(name, str(header).encode()) for name, header in record_headers.items()],
                    on_delivery=on_delivery(row_id),
                )
                break
            except BufferError:
                producer.poll(0.1)  # the local queue is full: let deliveries drain
    producer.flush(FLUSH_TIMEOUT_SECONDS)

    delivered = [row_id for row_id, error in errors.items() if error is None]
    failed = {row_id: error for row_id, error in errors.items() if error is not None}
    now = timezone.now()
    if delivered:
        OutboxEvent.objects.filter(id__in=delivered).update(published_at=now, attempts=F("attempts") + 1)
    for row_id, error in failed.items():
        OutboxEvent.objects.filter(id=row_id).update(
            attempts=F("attempts") + 1, last_error=str(error)[:LAST_ERROR_LENGTH]
        )
        metrics.EVENTS_FAILED.labels(topics[row_id]).inc()
    for row_id in delivered:
        metrics.EVENTS_PUBLISHED.labels(topics[row_id]).inc()
    _log_published(rows, set(delivered))
    if failed:
        logger.warning(
            "outbox rows not delivered; they will be retried",
            extra={"failed": len(failed), "first_error": str(next(iter(failed.values())))},
        )
        # An idempotent producer can stay stuck after such failures (a broker restarted empty
        # does not know its producer id: every record times out): retry with a fresh one.
        close_producer(timeout=0)
    return len(delivered), len(failed)


def _log_published(rows: list[tuple[Any, ...]], delivered: set[int]) -> None:
    """One line per correlation id of the batch, so a request can be followed from the web
    log through the relay: as many lines as requests caused events, not one per row."""
    by_correlation: dict[str | None, list[tuple[str, str]]] = {}
    for row_id, topic, _key, value, headers in rows:
        if row_id in delivered:
            by_correlation.setdefault(headers.get("correlation_id"), []).append((str(value.get("id")), topic))
    for correlation_id, published in by_correlation.items():
        logger.info(
            "outbox events published",
            extra={
                "correlation_id": correlation_id,
                "events": len(published),
                "event_ids": sorted({event_id for event_id, _ in published})[:LOGGED_EVENT_IDS],
                "topics": sorted({topic for _, topic in published}),
            },
        )


def update_backlog_metrics() -> tuple[int, float]:
    pending = OutboxEvent.objects.filter(published_at__isnull=True)
    count = pending.count()
    oldest = pending.aggregate(oldest=Min("created_at"))["oldest"]
    age = (timezone.now() - oldest).total_seconds() if oldest else 0.0
    metrics.OUTBOX_BACKLOG.set(count)
    metrics.OUTBOX_OLDEST_AGE.set(age)
    return count, age


def has_pending() -> bool:
    return OutboxEvent.objects.filter(published_at__isnull=True).exists()


def drain(
    *, batch_size: int = DEFAULT_BATCH_SIZE, deadline: float | None = None, stop: threading.Event | None = None
) -> int:
    """As leader, publish batches until nothing is pending, a delivery fails, time is up or
    `stop` is set. Returns the number of rows published."""
    published = 0
    while not (stop and stop.is_set()) and (deadline is None or time.monotonic() < deadline):
        done, failed = publish_batch(batch_size)
        published += done
        if failed or done < batch_size:
            break
    update_backlog_metrics()
    return published


def publish_pending(*, batch_size: int = DEFAULT_BATCH_SIZE, max_seconds: float = 30.0) -> tuple[int, bool]:
    """One pass for the Celery task and the sweep: publish what is pending if no other relay
    leads. Returns (published, more_pending).

    After giving up leadership it looks once more: a wake-up that arrived while this relay was
    the leader found the lock taken and returned, so its rows are this relay's to publish.
    """
    deadline = time.monotonic() + max_seconds
    published = 0
    while True:
        with leadership() as leader:
            if not leader:
                return published, False
            published += drain(batch_size=batch_size, deadline=deadline)
        if not has_pending():
            return published, False
        if time.monotonic() >= deadline:
            return published, True


def run_loop(*, batch_size: int = DEFAULT_BATCH_SIZE, stop: threading.Event, idle_wait: float = 1.0) -> None:
    """`relay_outbox --loop`: stand by until leader, then publish as rows are committed.

    Woken by PostgreSQL NOTIFY (sent in the recording transaction, so delivered at commit), and
    every `idle_wait` seconds regardless, so a lost notification strands nothing.
    """
    logger.info("outbox relay started", extra={"batch_size": batch_size})
    while not stop.is_set():
        try:
            _lead_when_possible(batch_size=batch_size, stop=stop, idle_wait=idle_wait)
        except (OperationalError, InterfaceError):
            # The database went away (and with it our lock): reconnect and compete again.
            logger.exception("outbox relay lost the database; retrying")
            connection.close()
            stop.wait(2.0)
    logger.info("outbox relay stopped")


def _lead_when_possible(*, batch_size: int, stop: threading.Event, idle_wait: float) -> None:
    with connection.cursor() as cursor:
        cursor.execute(f"LISTEN {NOTIFY_CHANNEL}")
    while not stop.is_set():
        with leadership() as leader:
            if not leader:
                stop.wait(idle_wait)
                continue
            logger.info("outbox relay is the leader")
            while not stop.is_set():
                drain(batch_size=batch_size, stop=stop)
                if not has_pending():
                    _wait_for_notification(idle_wait)


def _wait_for_notification(timeout: float) -> None:
    raw = connection.connection
    # Consume every queued notification: one wake-up covers all of them.
    for _ in raw.notifies(timeout=timeout, stop_after=1):
        pass
    for _ in raw.notifies(timeout=0):
        pass


def prune(*, now: Any = None) -> tuple[int, int]:
    """Delete published outbox rows and processed-event ids older than their retention."""
    now = now or timezone.now()
    outbox_cutoff = now - timedelta(hours=settings.KAFKA_OUTBOX_RETENTION_HOURS)
    processed_cutoff = now - timedelta(days=settings.KAFKA_PROCESSED_EVENTS_RETENTION_DAYS)
    outbox, _ = OutboxEvent.objects.filter(published_at__isnull=False, published_at__lt=outbox_cutoff).delete()
    processed, _ = ProcessedEvent.objects.filter(processed_at__lt=processed_cutoff).delete()
    return outbox, processed
