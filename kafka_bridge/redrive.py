"""Re-publish dead-lettered records to their original topic (`manage.py redrive_dlq`).

A DLQ record is the original record plus the runner's error headers. Redriving strips those
headers and produces key and value unchanged to `original_topic` (or the DLQ name without
`.dlq`), so the event keeps its id: groups that had processed it skip it, the one that failed
processes it. Progress is the committed offset of the group `kafka-bridge-redrive`, so each dead
record is redriven once; a dry run reads without producing or committing.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from confluent_kafka import Consumer, KafkaException, TopicPartition

from kafka_bridge.config import client_config
from kafka_bridge.producer import get_producer
from kafka_bridge.runner import DLQ_HEADERS
from kafka_bridge.topics import DLQ_SUFFIX

REDRIVE_GROUP = "kafka-bridge-redrive"
TIMEOUT_SECONDS = 10.0


@dataclass(frozen=True)
class DeadRecord:
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes]]
    target: str
    error: str


def dlq_name(topic: str) -> str:
    return topic if topic.endswith(DLQ_SUFFIX) else topic + DLQ_SUFFIX


def redrive(topic: str, *, dry_run: bool = False, report: Callable[[DeadRecord], None] | None = None) -> int:
    """Redrive every record of the DLQ of `topic` not redriven yet; returns how many."""
    dlq = dlq_name(topic)
    consumer = Consumer(client_config(**{"group.id": REDRIVE_GROUP, "enable.auto.commit": False}))
    try:
        metadata = consumer.list_topics(dlq, timeout=TIMEOUT_SECONDS)
        if dlq not in metadata.topics or metadata.topics[dlq].error is not None:
            raise KafkaException(f"topic {dlq} does not exist")
        partitions = [TopicPartition(dlq, p) for p in sorted(metadata.topics[dlq].partitions)]
        committed = consumer.committed(partitions, timeout=TIMEOUT_SECONDS)
        ends = {}
        starts = []
        for position in committed:
            low, high = consumer.get_watermark_offsets(TopicPartition(dlq, position.partition), timeout=TIMEOUT_SECONDS)
            start = position.offset if position.offset >= 0 else low
            if start < high:
                ends[position.partition] = high
                starts.append(TopicPartition(dlq, position.partition, start))
        records = _read_until(consumer, starts, ends)
        if not dry_run and records:
            _produce(records)
            consumer.commit(offsets=[TopicPartition(dlq, p, end) for p, end in ends.items()], asynchronous=False)
        for record in records:
            if report:
                report(record)
        return len(records)
    finally:
        consumer.close()


def _read_until(consumer: Consumer, starts: list[TopicPartition], ends: dict[int, int]) -> list[DeadRecord]:
    if not starts:
        return []
    consumer.assign(starts)
    remaining = dict(ends)
    records: list[DeadRecord] = []
    deadline = time.monotonic() + TIMEOUT_SECONDS
    while remaining:
        if time.monotonic() > deadline:
            raise TimeoutError(f"DLQ records up to {remaining} could not be read within {TIMEOUT_SECONDS} s")
        batch = consumer.consume(num_messages=1000, timeout=0.1)
        for message in batch:
            if message.error():
                continue
            partition = message.partition()
            if partition not in remaining or message.offset() >= remaining[partition]:
                continue
            headers = list(message.headers() or [])
            header_map = {name: (value or b"").decode("utf-8", "replace") for name, value in headers}
            records.append(
                DeadRecord(
                    partition=partition,
                    offset=message.offset(),
                    key=message.key(),
                    value=message.value(),
                    headers=[(name, value) for name, value in headers if name not in DLQ_HEADERS],
                    target=header_map.get("original_topic") or message.topic().removesuffix(DLQ_SUFFIX),
                    error=header_map.get("error", ""),
                )
            )
            if message.offset() + 1 >= remaining[partition]:
                del remaining[partition]
    return sorted(records, key=lambda r: (r.partition, r.offset))


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
