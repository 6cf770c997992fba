"""Produce claimed rows without waiting per batch, and hand their delivery reports to be marked."""

from __future__ import annotations

from typing import Any

from confluent_kafka import KafkaError, KafkaException, Message
from django.db import connection

from core import tracing
from kafka_bridge.producer import FLUSH_TIMEOUT_SECONDS, get_producer
from kafka_bridge.producer import close as close_producer
from kafka_bridge.relay.claim import Row
from kafka_bridge.relay.mark import is_rejection, mark
from kafka_bridge.relay.marker import Marker


def _encode_headers(headers: dict[str, Any]) -> list[tuple[str, bytes]]:
    return [(name, str(value).encode()) for name, value in headers.items()]


class Pipeline:
    """Produces claimed rows without waiting for each batch's acknowledgements, and marks rows
    published as their delivery reports arrive (never before)."""

    def __init__(self) -> None:
        self.producer = get_producer()
        self.in_flight = 0
        self.delivered: list[Row] = []
        self.failed: list[tuple[Row, KafkaError]] = []
        self.published = 0
        self.failures = 0
        self.marker: Marker | None = None

    def produce(self, rows: list[Row]) -> None:
        """Hand `rows` to the producer in order, each with a delivery report that records it.
        The relay's hottest loop: kept to the produce call and its report."""
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
            self.marker = Marker()
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
            mark(delivered, failed)

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
