"""Re-publish dead-lettered records to their original topic (`manage.py redrive_dlq`).

A DLQ record is the original record plus the dead-letter headers (kafka_bridge.dead_letters).
Redriving strips those headers and produces key and value unchanged to `original_topic` (or the
DLQ name without `.dlq`), so the event keeps its id: groups that had processed it skip it, the
one that failed processes it. Progress is the committed offset of the group
`kafka-bridge-redrive`, so each dead record is redriven once; a dry run reads without producing
or committing.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from confluent_kafka import Consumer, KafkaException, TopicPartition
from django.conf import settings

from kafka_bridge.config import client_config
from kafka_bridge.dead_letters import dlq_topic, original_headers
from kafka_bridge.producer import get_producer
from kafka_bridge.topics import DLQ_SUFFIX

REDRIVE_GROUP = "kafka-bridge-redrive"
TIMEOUT_SECONDS = 10.0
IDLE_SECONDS = 1.0


@dataclass(frozen=True)
class DeadRecord:
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes]]
    target: str
    error: str


def redrive(topic: str, *, dry_run: bool = False, report: Callable[[DeadRecord], None] | None = None) -> int:
    """Redrive every record of the DLQ of `topic` not redriven yet; returns how many."""
    dlq = dlq_topic(topic)
    consumer = Consumer(client_config(**{"group.id": REDRIVE_GROUP, "enable.auto.commit": False}))
    try:
        metadata = consumer.list_topics(dlq, timeout=TIMEOUT_SECONDS)
        if dlq not in metadata.topics or metadata.topics[dlq].error is not None:
            raise KafkaException(f"topic {dlq} does not exist")
        partitions = [TopicPartition(dlq, p) for p in sorted(metadata.topics[dlq].partitions)]
        committed = consumer.committed(partitions, timeout=TIMEOUT_SECONDS)
        starts, ends = [], {}
        for position in committed:
            low, high = consumer.get_watermark_offsets(TopicPartition(dlq, position.partition), timeout=TIMEOUT_SECONDS)
            starts.append(TopicPartition(dlq, position.partition, position.offset if position.offset >= 0 else low))
            ends[position.partition] = high
        records = _read_all(consumer, starts, ends)
        if not dry_run and records:
            _produce(records)
            next_offsets: dict[int, int] = {}
            for record in records:
                next_offsets[record.partition] = max(next_offsets.get(record.partition, 0), record.offset + 1)
            consumer.commit(
                offsets=[TopicPartition(dlq, partition, offset) for partition, offset in next_offsets.items()],
                asynchronous=False,
            )
        for record in records:
            if report:
                report(record)
        return len(records)
    finally:
        consumer.close()


def _read_all(consumer: Consumer, starts: list[TopicPartition], ends: dict[int, int]) -> list[DeadRecord]:
    """Every record from `starts` up to the reported end offsets. With KAFKA_TANSU_WORKAROUNDS,
    then also until the DLQ stays quiet for IDLE_SECONDS: Tansu reports the end of a multi-record
    batch as its first offset + 1 until the next batch arrives (DESIGN.md section 11)."""
    consumer.assign(starts)
    positions = {start.partition: start.offset for start in starts}
    records: list[DeadRecord] = []
    deadline = time.monotonic() + TIMEOUT_SECONDS
    quiet_since = time.monotonic()
    while True:
        batch = consumer.consume(num_messages=1000, timeout=0.1)
        now = time.monotonic()
        received = [message for message in batch if not message.error()]
        if received:
            quiet_since = now
        for message in received:
            positions[message.partition()] = message.offset() + 1
            records.append(_dead_record(message))
        reached_ends = all(positions[partition] >= end for partition, end in ends.items())
        if reached_ends and (not settings.KAFKA_TANSU_WORKAROUNDS or now - quiet_since >= IDLE_SECONDS):
            break
        if now > deadline:
            if not reached_ends:
                raise TimeoutError(f"DLQ records up to {ends} could not be read within {TIMEOUT_SECONDS} s")
            break
    return sorted(records, key=lambda r: (r.partition, r.offset))


def _dead_record(message: Any) -> DeadRecord:
    header_map = {name: (value or b"").decode("utf-8", "replace") for name, value in message.headers() or []}
    return DeadRecord(
        partition=message.partition(),
        offset=message.offset(),
        key=message.key(),
        value=message.value(),
        headers=original_headers(message.headers() or []),
        target=header_map.get("original_topic") or message.topic().removesuffix(DLQ_SUFFIX),
        error=header_map.get("error", ""),
    )


def _produce(records: list[DeadRecord]) -> None:
    producer = get_producer()
    failures: list[str] = []

    def on_delivery(error: object, message: object) -> None:
        if error is not None:
            failures.append(str(error))

    for record in records:
        producer.produce(
            record.target, key=record.key, value=record.value, headers=record.headers, on_delivery=on_delivery
        )
    undelivered = producer.flush(TIMEOUT_SECONDS * 3)
    if failures or undelivered:
        # Nothing committed: running again redrives these records again (consumers skip repeats).
        raise KafkaException(f"redrive failed: {failures[:3]} ({undelivered} undelivered)")
