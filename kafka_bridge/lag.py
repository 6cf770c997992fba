"""Consumer lag per group and partition: messages behind and seconds behind.

Messages behind = end offset - committed offset (a group that never committed starts at the
earliest offset, as the runner's `auto.offset.reset` does). Seconds behind = age of the oldest
unconsumed record (the one at the committed offset), 0 when nothing is behind.
"""

from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass
from datetime import UTC, datetime

from confluent_kafka import Consumer, TopicPartition

from kafka_bridge.config import client_config

TIMEOUT_SECONDS = 10.0


@dataclass(frozen=True)
class PartitionLag:
    group: str
    topic: str
    partition: int
    committed: int | None
    end: int
    messages_behind: int
    seconds_behind: float

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def group_lag(group: str, topics: list[str], *, now: datetime | None = None) -> list[PartitionLag]:
    now = now or datetime.now(UTC)
    offsets = Consumer(client_config(**{"group.id": group, "enable.auto.commit": False}))
    reader = Consumer(client_config(**{"group.id": f"lag-probe-{uuid.uuid4()}", "enable.auto.commit": False}))
    try:
        metadata = offsets.list_topics(timeout=TIMEOUT_SECONDS)
        partitions = [
            TopicPartition(topic, partition)
            for topic in topics
            if topic in metadata.topics
            for partition in sorted(metadata.topics[topic].partitions)
        ]
        committed = offsets.committed(partitions, timeout=TIMEOUT_SECONDS) if partitions else []
        result = []
        for position in committed:
            low, high = offsets.get_watermark_offsets(
                TopicPartition(position.topic, position.partition), timeout=TIMEOUT_SECONDS
            )
            has_commit = position.offset >= 0
            # A commit below the low watermark points at records retention already deleted.
            start = max(position.offset, low) if has_commit else low
            behind = max(0, high - start)
            seconds = _age_of(reader, position.topic, position.partition, start, now) if behind else 0.0
            result.append(
                PartitionLag(
                    group=group,
                    topic=position.topic,
                    partition=position.partition,
                    committed=position.offset if has_commit else None,
                    end=high,
                    messages_behind=behind,
                    seconds_behind=round(seconds, 3),
                )
            )
        return result
    finally:
        offsets.close()
        reader.close()


def _age_of(reader: Consumer, topic: str, partition: int, offset: int, now: datetime) -> float:
    """Age of the record at `offset` (the oldest unconsumed one)."""
    reader.assign([TopicPartition(topic, partition, offset)])
    try:
        for message in reader.consume(num_messages=1, timeout=TIMEOUT_SECONDS / 2):
            if message.error():
                continue
            _, millis = message.timestamp()
            if millis and millis > 0:
                return max(0.0, (now - datetime.fromtimestamp(millis / 1000, UTC)).total_seconds())
        return 0.0
    finally:
        reader.unassign()
