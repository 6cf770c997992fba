"""The outbox relay: publishes outbox rows to Kafka in order and marks them published.

Ordering across several relays: one leader at a time. A relay publishes only while it holds a
PostgreSQL session advisory lock (`pg_try_advisory_lock`); the others stand by (the `--loop`
processes) or return at once (the Celery task woken on commit). The leader publishes pending rows
in id order with an idempotent producer, claiming the next batch while earlier ones are being
acknowledged, and marks rows published only after their delivery reports (one DELETE of their
`OutboxPending` rows per round of reports). So every key's events reach Kafka in the
order they were recorded. If the leader dies (even SIGKILL), PostgreSQL drops its lock with its
connection; the next leader re-publishes the rows that were produced but not yet marked: a
duplicate with the same event id, which consumers skip (processed events), in the original order.

A row the broker refuses for good (a record too large for its topic) is marked rejected with the
reason, counted in `outbox_events_rejected_total`, and never blocks the rows after it.

Limit: if one row's delivery fails (after the producer's own retries, `message.timeout.ms`)
while a later row of the same key was acknowledged, the failed row is re-published after it.
The idempotent producer makes that rare (it fails the rest of the partition's queue too);
consumers must tolerate it as they tolerate the DLQ.

One leader is simple and fast enough here (bench scenario 1: see bench/README.md); more
throughput would need per-key claiming instead.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import timedelta
from typing import Any

import orjson
from confluent_kafka import KafkaError, KafkaException, Message
from django.conf import settings
from django.db import InterfaceError, OperationalError, connection, transaction
from django.db.models import Count, F, Min
from django.utils import timezone

from core import tracing
from core.logging import EACH_LINE
from kafka_bridge import metrics
from kafka_bridge.models import OutboxEvent, OutboxPending, ProcessedEvent
from kafka_bridge.producer import FLUSH_TIMEOUT_SECONDS, get_producer
from kafka_bridge.producer import close as close_producer
from kafka_bridge.receivers import NOTIFY_CHANNEL
from kafka_bridge.topics import max_record_bytes

logger = logging.getLogger(__name__)

# The advisory lock key of the relay leader: any fixed bigint no other code uses.
LEADER_LOCK_KEY = 0x2B7E_1516_28AE_D2A6
# Rows per claim. Claims are pipelined (the next is produced while the last is acknowledged),
# so a batch is only the unit of reading and of marking, not a flush.
DEFAULT_BATCH_SIZE = 2000
# Produced but unacknowledged rows allowed, in batches: bounds what a crash re-publishes.
MAX_IN_FLIGHT_BATCHES = 4
# A pass claims from the lowest pending id at most this long before it drains its pipeline
# and starts again from the lowest pending id (see `drain`).
PASS_SECONDS = 2.0
LAST_ERROR_LENGTH = 1000
# Seconds between refreshes of the backlog gauges while they show none (scrapes are 15 s apart).
BACKLOG_METRICS_SECONDS = 1.0
# Event ids listed per "outbox events published" line (the count is always complete).
LOGGED_EVENT_IDS = 20
# TESTS ONLY (tests/faults/test_relay_kills.py), off unless set: seconds to pause after a round's
# delivery reports and before its DELETE, announced by a "relay fault point" log line listing
# the round's rows, so that a SIGKILL provably lands between produce and mark. Never set it in
# a deployment: every round would wait this long.
FAULT_PAUSE_BEFORE_MARK = float(os.environ.get("KAFKA_RELAY_FAULT_PAUSE_BEFORE_MARK") or 0)


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


def _encode_headers(headers: dict[str, Any]) -> list[tuple[str, bytes]]:
    return [(name, str(value).encode()) for name, value in headers.items()]


# One claimed row: (id, topic, key, value as JSON text, headers). Only the columns publishing
# needs (the event id and type are the `ce_id` and `ce_type` headers); the value is published as
# the text that was written (a `json` column: no decode/re-encode, see OutboxJSONField).
Row = tuple[int, str, str, str, dict[str, Any]]

# The claim: pending rows after `after`, in id order (keyset, so each claim starts where the
# last one ended instead of walking the index over rows deleted moments ago). The ids are chosen
# first from the narrow pending table, the wide columns read for those only: right after a burst
# of writes the statistics are stale, and a one-statement claim once rendered `value::text` for
# *every* pending row after `after` before a top-N sort (7-17k rows/s instead of ~100k,
# bench/README.md).
_CLAIM_SQL = (
    'SELECT id, topic, key, value::text, headers::text FROM "kafka_bridge_outboxevent" '
    'WHERE id = ANY(ARRAY(SELECT id FROM "kafka_bridge_outboxpending" WHERE id > %s ORDER BY id LIMIT %s)) '
    "ORDER BY id"
)
# The mark: one statement per round of delivery reports, deleting narrow rows only.
_MARK_SQL = 'DELETE FROM "kafka_bridge_outboxpending" WHERE id = ANY(%s::bigint[])'


def _rows(fetched: list[tuple[Any, ...]]) -> list[Row]:
    loads = orjson.loads
    return [(row_id, topic, key, value, loads(headers)) for row_id, topic, key, value, headers in fetched]


def _claim(after: int, limit: int) -> list[Row]:
    with connection.cursor() as cursor:
        cursor.execute(_CLAIM_SQL, [after, limit])
        return _rows(cursor.fetchall())


class _ClaimAhead:
    """The next claim, sent before the current batch is produced and read after it: PostgreSQL
    runs it on the other core meanwhile (libpq pipeline mode). No thread: a claiming thread was
    measured slower, its results waiting for the GIL (bench/README.md, fifth round). Nothing
    else may use the connection until `rows()`, so marks must go to the marker thread."""

    def __init__(self, after: int, limit: int) -> None:
        connection.ensure_connection()
        self._stack = ExitStack()
        try:
            self._stack.enter_context(connection.connection.pipeline())
            self._cursor = self._stack.enter_context(connection.connection.cursor())
            self._cursor.execute(_CLAIM_SQL, [after, limit])
        except BaseException:
            self._stack.close()
            raise

    def rows(self) -> list[Row]:
        with self._stack:
            return _rows(self._cursor.fetchall())


def _id_array(ids: list[int]) -> str:
    """`ids` as one PostgreSQL array literal: psycopg would quote 2,000 ints one by one."""
    return "{" + ",".join(map(str, ids)) + "}"


# Delivery errors no retry can mend when the record itself is at fault. A size error names a
# whole batch: only a record over the topics' limit on its own is rejected, a neighbour batched
# with it is retried (and `batch.size` keeps batches of small records under that limit).
SIZE_ERRORS = frozenset({KafkaError.MSG_SIZE_TOO_LARGE, KafkaError.RECORD_LIST_TOO_LARGE})


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


def _mark(delivered: list[Row], failed: list[tuple[Row, KafkaError]]) -> None:
    """Record delivery reports: delivered rows published (one DELETE of their pending rows);
    rejected ones no longer pending, with `rejected_at` and the reason; other failures with
    their error (they stay pending, keep their place and are retried)."""
    if delivered:
        if FAULT_PAUSE_BEFORE_MARK:
            _fault_pause_before_mark(delivered)
        with connection.cursor() as cursor:
            cursor.execute(_MARK_SQL, [_id_array([row[0] for row in delivered])])
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


class _Marker(threading.Thread):
    """Runs `_mark` in a thread of its own (with its own database connection), so that while it
    waits for PostgreSQL and writes log lines the relay claims and produces the next batch.
    Started only for a backlog (a full claim): a trickle is marked inline, without the extra
    connection. Marking is safe without the leader lock: it only records acknowledged rows."""

    def __init__(self) -> None:
        super().__init__(name="outbox-marker", daemon=True)
        self.jobs: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            while (job := self.jobs.get()) is not None:
                if isinstance(job, threading.Event):
                    job.set()
                elif self.error is None:
                    try:
                        _mark(*job)
                    except BaseException as exc:  # noqa: BLE001 - re-raised in the relay's thread
                        self.error = exc
        finally:
            connection.close()

    def sync(self) -> None:
        """Wait until every mark handed over so far is committed; re-raise its failure."""
        done = threading.Event()
        self.jobs.put(done)
        while not done.wait(1.0):
            if not self.is_alive():
                raise RuntimeError("the outbox marker thread died")
        if self.error is not None:
            raise self.error

    def close(self) -> None:
        self.jobs.put(None)
        self.join()


class _Pipeline:
    """Produces claimed rows without waiting for each batch's acknowledgements, and marks rows
    published as their delivery reports arrive (never before)."""

    def __init__(self) -> None:
        self.producer = get_producer()
        self.in_flight = 0
        self.delivered: list[Row] = []
        self.failed: list[tuple[Row, KafkaError]] = []
        self.published = 0
        self.failures = 0
        self.marker: _Marker | None = None

    def produce(self, rows: list[Row]) -> None:
        """Hand `rows` to the producer in order, each with a delivery report that records it.
        The hottest loop of the relay (bench scenario 1): kept to the produce call and its report."""
        produce = self.producer.produce
        traced = tracing.enabled()
        for row in rows:
            _row_id, topic, key, value, headers = row
            if traced:  # a publish span, child of the context stored with the row
                headers = tracing.publish_headers(headers, topic=topic, event_type=headers.get("ce_type", ""))

            def report(error: KafkaError | None, _message: Message, row: Row = row) -> None:
                self.in_flight -= 1
                if error is None:
                    self.delivered.append(row)
                else:
                    self.failed.append((row, error))

            try:
                # Strings as they are: the client encodes them to UTF-8 itself, cheaper than here.
                produce(topic, key=key, value=value, headers=headers, on_delivery=report)
            except (BufferError, TypeError):
                self._produce_patiently(topic, key, value, headers, report)
            except KafkaException as exc:  # refused before it was queued (e.g. over message.max.bytes)
                self.failed.append((row, exc.args[0]))
                continue
            self.in_flight += 1

    def _produce_patiently(self, topic: str, key: str, value: str, headers: Any, report: Any) -> None:
        while True:
            try:
                self.producer.produce(topic, key=key, value=value, headers=headers, on_delivery=report)
                return
            except BufferError:
                self.producer.poll(0.05)  # the local queue is full: let deliveries drain
            except TypeError:
                # A header value that is not a string (the outbox writes strings only): as text.
                if isinstance(headers, list):
                    raise
                headers = _encode_headers(headers)

    def poll(self, timeout: float = 0) -> None:
        self.producer.poll(timeout)

    def use_marker(self) -> None:
        # Not inside the caller's transaction: another connection would not see its rows.
        if self.marker is None and not connection.in_atomic_block:
            self.marker = _Marker()
            self.marker.start()

    def mark(self) -> None:
        """Hand the delivery reports received so far to be recorded."""
        delivered, self.delivered = self.delivered, []
        failed, self.failed = self.failed, []
        if not delivered and not failed:
            return
        self.published += len(delivered)
        self.failures += sum(1 for row, error in failed if not is_rejection(row, error))
        if self.marker is not None:
            self.marker.jobs.put((delivered, failed))
        else:
            _mark(delivered, failed)

    def finish(self) -> None:
        """Wait for every outstanding delivery report and until all of them are recorded."""
        remaining = self.producer.flush(FLUSH_TIMEOUT_SECONDS)
        self.mark()
        if self.marker is not None:
            self.marker.sync()
        if remaining or self.failures:
            # An idempotent producer can stay stuck after such failures, on any broker that has
            # lost its producer state (Tansu restarted empty; Apache Kafka once the producer id
            # expired or its log was truncated: a fatal error in librdkafka): retry with a fresh
            # one. Rows without a report stay unmarked and are published again.
            close_producer(timeout=0)

    def close(self) -> None:
        if self.marker is not None:
            self.marker.close()
            self.marker = None


def _publish_pass(
    pipeline: _Pipeline, *, batch_size: int, deadline: float | None, stop: threading.Event | None
) -> bool:
    """Publish pending rows from the lowest id on, claiming the next batch while earlier ones
    are still being acknowledged, for at most PASS_SECONDS. Returns True if it stopped caught
    up (a claim came back short), or on a failure, a stop or the deadline."""
    pass_end = time.monotonic() + PASS_SECONDS
    after = 0
    ahead: _ClaimAhead | None = None
    try:
        while True:
            if (stop and stop.is_set()) or (deadline is not None and time.monotonic() >= deadline):
                return True
            rows = ahead.rows() if ahead else _claim(after, batch_size)
            ahead = None
            full = len(rows) == batch_size
            if full:
                pipeline.use_marker()
                if pipeline.marker is not None and time.monotonic() < pass_end:
                    ahead = _ClaimAhead(rows[-1][0], batch_size)
            pipeline.produce(rows)
            if rows:
                after = rows[-1][0]
            pipeline.poll(0)
            # Bound what is produced but not acknowledged (and so not yet marked).
            while pipeline.in_flight > MAX_IN_FLIGHT_BATCHES * batch_size:
                pipeline.poll(0.005)
            pipeline.mark()
            if pipeline.failures or not full:
                return True
            if time.monotonic() >= pass_end:
                return False
    finally:
        if ahead is not None:
            ahead.rows()  # unused: ends the pipeline
        pipeline.finish()


def drain(
    *, batch_size: int = DEFAULT_BATCH_SIZE, deadline: float | None = None, stop: threading.Event | None = None
) -> int:
    """As leader, publish until nothing is pending, a delivery fails, time is up or `stop` is
    set. Returns the number of rows published.

    In passes of at most PASS_SECONDS, each starting again from the lowest pending id: a row
    whose transaction took an id below the claims' position but committed later is published
    by the next pass (a pass cannot restart while rows are in flight: they would be produced
    twice)."""
    pipeline = _Pipeline()
    try:
        while not _publish_pass(pipeline, batch_size=batch_size, deadline=deadline, stop=stop):
            pass
    finally:
        pipeline.close()
    _refresh_backlog_metrics()
    return pipeline.published


def _log_published(rows: list[Row]) -> None:
    """One line per correlation id of the delivered rows, so a request can be followed from the
    web log through the relay: as many lines as requests caused events, not one per row. Written
    by one logging call (EACH_LINE): a call per line cost the relay ~15 µs per correlation id,
    most of its time in a backlog of one-event requests (bench/README.md, seventh round)."""
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


def update_backlog_metrics() -> tuple[int, float]:
    backlog = OutboxEvent.objects.filter(pending__isnull=False).aggregate(count=Count("id"), oldest=Min("created_at"))
    count, oldest = backlog["count"], backlog["oldest"]
    age = (timezone.now() - oldest).total_seconds() if oldest else 0.0
    metrics.OUTBOX_BACKLOG.set(count)
    metrics.OUTBOX_OLDEST_AGE.set(age)
    _backlog_seen.update(count=count, at=time.monotonic())
    return count, age


# What the backlog gauges last showed, and when (monotonic).
_backlog_seen: dict[str, float] = {"count": 0, "at": float("-inf")}


def _refresh_backlog_metrics() -> None:
    """After a drain: the gauges again, at most every BACKLOG_METRICS_SECONDS while they show no
    backlog. With a write every few milliseconds, reading them after every drain took ~1 ms of
    the relay's time per write, time in which the next write's NOTIFY waited."""
    if _backlog_seen["count"] or time.monotonic() - _backlog_seen["at"] >= BACKLOG_METRICS_SECONDS:
        update_backlog_metrics()


def has_pending() -> bool:
    return OutboxPending.objects.exists()


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
                # Ends caught up, after a failed delivery (retried at the next wake-up) or on stop.
                drain(batch_size=batch_size, stop=stop)
                # No query for what is pending now: a commit during the drain has notified
                # already, and psycopg keeps a notification that arrives while the session runs
                # a statement for its next `notifies()` (it would not, were a notify handler set).
                _wait_for_notification(idle_wait)


def _wait_for_notification(timeout: float) -> None:
    raw = connection.connection
    # Consume every queued notification: one wake-up covers all of them.
    for _ in raw.notifies(timeout=timeout, stop_after=1):
        pass
    for _ in raw.notifies(timeout=0):
        pass


def prune(*, now: Any = None) -> tuple[int, int]:
    """Delete published outbox rows and processed-event ids older than their retention (an
    outbox row's age is counted from when it was written: it is published moments later)."""
    now = now or timezone.now()
    outbox_cutoff = now - timedelta(hours=settings.KAFKA_OUTBOX_RETENTION_HOURS)
    processed_cutoff = now - timedelta(days=settings.KAFKA_PROCESSED_EVENTS_RETENTION_DAYS)
    outbox, _ = OutboxEvent.objects.filter(pending__isnull=True, created_at__lt=outbox_cutoff).delete()
    processed, _ = ProcessedEvent.objects.filter(processed_at__lt=processed_cutoff).delete()
    return outbox, processed
