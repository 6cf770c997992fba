"""The consumer runner behind `manage.py run_consumer NAME` (DESIGN.md section 3).

Per record: decode the CloudEvent and validate it against its type's schema; if a handler of
this consumer wants its type, run the handlers and record the event id as processed for the
group in ONE database transaction (an already-processed id is skipped), then commit the offset.
Offsets are committed manually, after the work of the records before them is durable, so a crash
at any point means redelivery, never loss, and redelivery is skipped.

Failures: invalid records (not JSON, not a CloudEvent, unknown type, failing the schema) and
`PermanentError`s go to `<topic>.dlq` at once; other exceptions are retried in place with
exponential backoff up to the definition's `max_attempts`, then dead-lettered. Either way the
partition moves on. A DLQ breaks per-key order for that one record: handlers must tolerate it.

Batch consumers (`batch=True`) get every record of a poll batch as `ConsumedRecord`s (invalid ones
with `event=None` and `error` set); a failing batch is retried, offsets are committed after it
returns. SIGTERM/SIGINT: the current record or batch is finished, offsets committed, the
consumer leaves its group.
"""

from __future__ import annotations

import functools
import importlib
import logging
import os
import socket
import threading
import time
from datetime import UTC, datetime
from typing import Any

from confluent_kafka import Consumer, KafkaException, Message, TopicPartition
from django.conf import settings
from django.db import close_old_connections, connection, transaction

from core import tracing
from core.correlation import correlation_scope
from core.sequences import MappedOnUse
from kafka_bridge import dead_letters, metrics
from kafka_bridge.config import client_config
from kafka_bridge.envelope import CloudEvent, InvalidEvent
from kafka_bridge.errors import PermanentError
from kafka_bridge.producer import close as close_producer
from kafka_bridge.records import ConsumedRecord
from kafka_bridge.registry import ConsumerDefinition, batch_handler_for, handlers_for
from kafka_bridge.schemas import decode_event
from kafka_bridge.topics import DLQ_SUFFIX, ensure_topics

logger = logging.getLogger(__name__)

CORRELATION_HEADER = "correlation_id"
# TESTS ONLY (tests/faults/test_consumer_kills.py), off unless set: seconds to pause after a poll
# batch is handled and before its offsets are committed, announced by a "consumer fault point"
# log line, so that a SIGKILL provably lands while the member holds processed, uncommitted
# records. Never set it in a deployment: every batch would wait this long.
FAULT_PAUSE_BEFORE_COMMIT = float(os.environ.get("KAFKA_CONSUMER_FAULT_PAUSE_BEFORE_COMMIT") or 0)


# Classic groups: a dead member's partitions move after this (the runner's failover time).
SESSION_TIMEOUT_MS = 6000
HEARTBEAT_INTERVAL_MS = 1000


def consumer_config(definition: ConsumerDefinition) -> dict[str, Any]:
    """Manual offset commits, earliest reset, a short fetch wait (produce→consume latency in
    milliseconds) and a short metadata refresh (topics created after subscribing are noticed).

    The group protocol is KAFKA_GROUP_PROTOCOL's. Classic groups keep a 6 s session, so a killed
    member's partitions move within seconds (and Tansu, which holds a join for half the session
    timeout, joins in 1-3 s); with KIP-848 (`consumer`) the session and heartbeat are the
    broker's group settings (kafka_bridge/brokers/apache.py sets them to the same values).
    """
    group: dict[str, Any] = {"group.protocol": settings.KAFKA_GROUP_PROTOCOL}
    if settings.KAFKA_GROUP_PROTOCOL == "classic":
        group.update({"session.timeout.ms": SESSION_TIMEOUT_MS, "heartbeat.interval.ms": HEARTBEAT_INTERVAL_MS})
    return client_config(
        **{
            "group.id": definition.group_id,
            "client.id": f"{definition.name}-{socket.gethostname()}-{os.getpid()}",
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "auto.offset.reset": "earliest",
            **group,
            "fetch.wait.max.ms": 10,
            "topic.metadata.refresh.interval.ms": 2000,
            "max.poll.interval.ms": 300_000,
            **definition.extra_config,
        }
    )


def import_handler_modules(definition: ConsumerDefinition) -> list[str]:
    """Import the definition's handler modules; returns the ones that do not exist.

    A missing module is logged, not fatal: the consumer then runs without its handlers, skipping
    (and committing) the events, so the other apps' consumers keep working while one is absent.
    """
    missing = []
    for module in definition.handler_modules:
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name != module:
                raise
            missing.append(module)
            logger.warning(
                "handler module not found; consuming without its handlers",
                extra={"consumer": definition.name, "handler_module": module},
            )
    return missing


def _headers(message: Message) -> dict[str, str]:
    return {
        name: value.decode("utf-8", "replace") if isinstance(value, bytes) else (value or "")
        for name, value in message.headers() or []
    }


def _handler_name(handler: Any) -> str:
    return f"{getattr(handler, '__module__', '?')}.{getattr(handler, '__qualname__', repr(handler))}"


def consumed_record(message: Message, *, group: str) -> ConsumedRecord:
    event, error = None, None
    try:
        event = decode_event(message.value())
    except InvalidEvent as exc:
        error = str(exc)
    _, millis = message.timestamp()
    return ConsumedRecord(
        topic=message.topic(),
        partition=message.partition(),
        offset=message.offset(),
        key=message.key(),
        headers=_headers(message),
        value=message.value(),
        timestamp=datetime.fromtimestamp(millis / 1000, UTC) if millis and millis > 0 else None,
        event=event,
        error=error,
        group=group,
    )


def decoded_on_use(messages: list[Message], *, group: str) -> MappedOnUse[Message, ConsumedRecord]:
    """A poll batch as a batch handler receives it: each record decoded when the handler first
    reaches it, and kept (a retry reads the same records)."""
    return MappedOnUse(messages, functools.partial(consumed_record, group=group))


class _HandlerFailed(Exception):
    def __init__(self, handler: str, error: BaseException) -> None:
        super().__init__(str(error))
        self.handler = handler
        self.error = error


class ConsumerRunner:
    def __init__(
        self,
        definition: ConsumerDefinition,
        *,
        stop: threading.Event,
        poll_timeout: float = 0.5,
        max_batch: int = 500,
        backoff_base: float = 0.2,
        backoff_max: float = 10.0,
    ) -> None:
        self.definition = definition
        self.stop = stop
        self.poll_timeout = poll_timeout
        self.max_batch = max_batch
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.group = definition.group_id
        self.config = consumer_config(definition)
        self.consumer: Consumer | None = None
        # Set while the member holds an assignment; cleared when a rebalance revokes it.
        self.assigned = threading.Event()

    # --- lifecycle --------------------------------------------------------------------------

    def run(self) -> None:
        ensure_topics()
        import_handler_modules(self.definition)
        if self.definition.batch and batch_handler_for(self.definition.name) is None:
            logger.warning("no batch handler registered; records will be skipped", extra=self._log())
        self.consumer = Consumer(self.config)
        self.consumer.subscribe(list(self.definition.topics), on_assign=self._on_assign, on_revoke=self._on_revoke)
        logger.info("consumer started", extra=self._log(topics=list(self.definition.topics)))
        try:
            while not self.stop.is_set():
                # consume(n, timeout) waits for n records or the whole timeout: wait for the first
                # record only, then take what has already been fetched.
                first = self.consumer.poll(self.poll_timeout)
                if first is None:
                    continue
                messages = [first, *self.consumer.consume(num_messages=self.max_batch - 1, timeout=0)]
                close_old_connections()
                self._process(messages)
        finally:
            if settings.KAFKA_TANSU_WORKAROUNDS:
                self._finish_joining()
            self.consumer.close()  # leaves the group at once, so the partitions move without waiting
            logger.info("consumer stopped", extra=self._log())

    def _finish_joining(self) -> None:
        """Tansu only (KAFKA_TANSU_WORKAROUNDS): stop only while holding an assignment that no
        rebalance is about to take. A member that leaves Tansu while its (re)join is pending
        wedges the group: no later member is ever assigned partitions (DESIGN.md section 11).
        So first poll for a heartbeat interval (and a margin), so that a rebalance another
        member's exit has just started reaches us, then finish any pending (re)join, bounded by
        the session timeout. Costs a stop 1.5 s or a few seconds; Apache Kafka needs none of it.
        Records fetched meanwhile are not processed and stay uncommitted for the next member.
        Members told to stop at the same moment can still wedge a Tansu group: stop them one
        after another (`test_group_membership.py`).
        """
        if self.consumer is None:
            return
        now = time.monotonic()
        heard_by = now + HEARTBEAT_INTERVAL_MS / 1000 + 0.5
        deadline = now + SESSION_TIMEOUT_MS / 1000 + 5
        while time.monotonic() < deadline:
            if self.assigned.is_set() and time.monotonic() >= heard_by:
                return
            self.consumer.poll(0.2)

    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self.assigned.set()
        logger.info("partitions assigned", extra=self._log(partitions=[f"{p.topic}/{p.partition}" for p in partitions]))

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self.assigned.clear()
        logger.info("partitions revoked", extra=self._log(partitions=[f"{p.topic}/{p.partition}" for p in partitions]))

    def _log(self, **extra: Any) -> dict[str, Any]:
        return {"consumer": self.definition.name, "group": self.group, **extra}

    # --- polling ----------------------------------------------------------------------------

    def _process(self, messages: list[Message]) -> None:
        done: dict[tuple[str, int], int] = {}
        records = []
        for message in messages:
            if message.error():
                logger.warning("consume error", extra=self._log(error=str(message.error())))
                continue
            records.append(message)
        if self.definition.batch:
            if self._handle_batch(records):
                for message in records:
                    done[(message.topic(), message.partition())] = message.offset() + 1
        else:
            for message in records:
                if not self._handle_record(message):
                    break  # stopping mid-retry: this record stays uncommitted and is redelivered
                done[(message.topic(), message.partition())] = message.offset() + 1
                if self.stop.is_set():
                    break
        self._commit(done)

    def _commit(self, done: dict[tuple[str, int], int]) -> None:
        if not done or self.consumer is None:
            return
        offsets = [TopicPartition(topic, partition, offset) for (topic, partition), offset in done.items()]
        if FAULT_PAUSE_BEFORE_COMMIT:
            logger.warning("consumer fault point: handled, not yet committed", extra=self._log())
            time.sleep(FAULT_PAUSE_BEFORE_COMMIT)
        try:
            self.consumer.commit(offsets=offsets, asynchronous=False)
        except KafkaException as exc:
            # E.g. the partitions were revoked meanwhile: their records come again, and are skipped.
            logger.warning("offset commit failed", extra=self._log(error=str(exc)))

    def _backoff(self, attempt: int) -> float:
        return min(self.backoff_max, self.backoff_base * 2 ** (attempt - 1))

    # --- one record -------------------------------------------------------------------------

    def _handle_record(self, message: Message) -> bool:
        """Handle one record completely (processed, skipped or dead-lettered): True. False only
        when asked to stop while retrying (the record is then left uncommitted)."""
        topic = message.topic()
        headers = _headers(message)
        try:
            event = decode_event(message.value())
        except InvalidEvent as exc:
            return self._dead_letter(message, error=f"invalid event: {exc}", handler="decode", attempts=1)
        handlers = handlers_for(self.definition.name, event.type)
        if not handlers:
            metrics.RECORDS_HANDLED.labels(self.group, topic, "skipped").inc()
            return True
        with (
            correlation_scope(headers.get(CORRELATION_HEADER) or event.correlationid),
            tracing.consume_span(headers, topic=topic, group=self.group, event_type=event.type),
        ):
            attempt = 0
            while True:
                attempt += 1
                try:
                    outcome = self._run_handlers(event, handlers)
                except _HandlerFailed as failure:
                    permanent = isinstance(failure.error, PermanentError)
                    if permanent or attempt >= self.definition.max_attempts:
                        logger.error(
                            "record failed; dead-lettering",
                            extra=self._log(
                                event_id=event.id, handler=failure.handler, attempts=attempt, error=str(failure.error)
                            ),
                        )
                        return self._dead_letter(
                            message,
                            error=f"{type(failure.error).__name__}: {failure.error}",
                            handler=failure.handler,
                            attempts=attempt,
                        )
                    metrics.RECORDS_RETRIED.labels(self.group).inc()
                    delay = self._backoff(attempt)
                    logger.warning(
                        "handler failed; retrying",
                        extra=self._log(event_id=event.id, handler=failure.handler, attempt=attempt, delay=delay),
                        exc_info=failure.error,
                    )
                    close_old_connections()
                    if self.stop.wait(delay):
                        return False
                    continue
                metrics.RECORDS_HANDLED.labels(self.group, topic, outcome).inc()
                return True

    def _run_handlers(self, event: CloudEvent, handlers: list[Any]) -> str:
        current = "kafka_bridge.processed_event"
        try:
            with transaction.atomic():
                with connection.cursor() as cursor:
                    # Inserted first: a concurrent duplicate (another member during a rebalance)
                    # waits on the unique index and then sees the row.
                    cursor.execute(
                        'INSERT INTO kafka_bridge_processedevent ("group", event_id, processed_at) '
                        "VALUES (%s, %s, now()) ON CONFLICT DO NOTHING RETURNING id",
                        [self.group, event.id],
                    )
                    if cursor.fetchone() is None:
                        return "duplicate"
                for handler in handlers:
                    current = _handler_name(handler)
                    handler(event)
        except Exception as exc:  # every failure is classified: retried or dead-lettered
            raise _HandlerFailed(current, exc) from exc
        return "processed"

    # --- batches ----------------------------------------------------------------------------

    def _handle_batch(self, messages: list[Message]) -> bool:
        if not messages:
            return True
        handler = batch_handler_for(self.definition.name)
        if handler is None:
            for message in messages:
                metrics.RECORDS_HANDLED.labels(self.group, message.topic(), "skipped").inc()
            return True
        records = decoded_on_use(messages, group=self.group)
        attempt = 0
        while True:
            attempt += 1
            try:
                with transaction.atomic():
                    handler(records)
            except Exception as exc:  # noqa: BLE001 - retried; dead-lettered only if the definition says so
                if self.definition.dead_letter and (
                    isinstance(exc, PermanentError) or attempt >= self.definition.max_attempts
                ):
                    return all(
                        self._dead_letter(
                            m, error=f"{type(exc).__name__}: {exc}", handler=_handler_name(handler), attempts=attempt
                        )
                        for m in messages
                    )
                metrics.RECORDS_RETRIED.labels(self.group).inc()
                delay = self._backoff(attempt)
                logger.warning(
                    "batch handler failed; retrying", extra=self._log(attempt=attempt, delay=delay), exc_info=exc
                )
                close_old_connections()
                if self.stop.wait(delay):
                    return False
                continue
            for message in messages:
                metrics.RECORDS_HANDLED.labels(self.group, message.topic(), "processed").inc()
            return True

    # --- dead letters -----------------------------------------------------------------------

    def _dead_letter(self, message: Message, *, error: str, handler: str, attempts: int) -> bool:
        """Produce the record to `<topic>.dlq` with headers saying why, and wait for the broker's
        acknowledgement (the offset is committed only after). True once delivered; False if asked
        to stop before the DLQ accepted it."""
        topic = message.topic()
        if not self.definition.dead_letter or topic.endswith(DLQ_SUFFIX):
            logger.error("record cannot be processed and has no DLQ; skipped", extra=self._log(error=error))
            metrics.RECORDS_HANDLED.labels(self.group, topic, "skipped").inc()
            return True
        letter = dead_letters.dead_letter(
            topic=topic,
            partition=message.partition(),
            offset=message.offset(),
            key=message.key(),
            value=message.value(),
            headers=message.headers() or [],
            error=error,
            handler=handler,
            attempts=attempts,
            group=self.group,
        )
        attempt = 0
        while True:
            attempt += 1
            failure = dead_letters.send([letter])
            if failure is None:
                metrics.RECORDS_DEAD_LETTERED.labels(self.group, topic).inc()
                return True
            logger.error("DLQ produce failed; retrying", extra=self._log(error=failure))
            close_producer(timeout=0)  # a stuck idempotent producer (see relay._Pipeline.finish): a fresh one
            if self.stop.wait(self._backoff(attempt)):
                return False
