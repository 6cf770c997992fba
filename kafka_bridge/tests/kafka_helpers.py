"""Test helpers that talk to the run's real broker: create topics, produce, read ranges."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime
from typing import Any

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from kafka_bridge.config import client_config
from kafka_bridge.envelope import CloudEvent
from kafka_bridge.lag import group_lag


def create_topics(*names: str, partitions: int = 3) -> None:
    admin = AdminClient(client_config())
    existing = set(admin.list_topics(timeout=10).topics)
    wanted = [NewTopic(name, num_partitions=partitions, replication_factor=1) for name in names if name not in existing]
    if wanted:
        for future in admin.create_topics(wanted).values():
            future.result(timeout=10)


def messages_behind(group: str, topics: list[str]) -> int:
    """Records of `topics` that `group` has not committed yet, over all partitions."""
    return sum(p.messages_behind for p in group_lag(group, topics))


def end_offsets(topic: str) -> dict[int, int]:
    consumer = Consumer(client_config(**{"group.id": f"probe-{uuid.uuid4()}", "enable.auto.commit": False}))
    try:
        metadata = consumer.list_topics(topic, timeout=10)
        return {
            partition: consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=10)[1]
            for partition in metadata.topics[topic].partitions
        }
    finally:
        consumer.close()


def read_from(start: dict[str, dict[int, int]], *, expected: int, timeout: float = 10.0, settle: float = 0.5) -> list:
    """Read every record after `start` ({topic: {partition: offset}}) until `expected` records
    arrived (and `settle` seconds passed without more) or `timeout`. Returns the messages."""
    consumer = Consumer(
        client_config(**{"group.id": f"reader-{uuid.uuid4()}", "enable.auto.commit": False, "fetch.wait.max.ms": 10})
    )
    consumer.assign(
        [
            TopicPartition(topic, partition, offset)
            for topic, parts in start.items()
            for partition, offset in parts.items()
        ]
    )
    messages: list[Any] = []
    deadline = time.monotonic() + timeout
    quiet_since = time.monotonic()
    try:
        while time.monotonic() < deadline:
            batch = consumer.consume(num_messages=10_000, timeout=0.1)
            batch = [m for m in batch if not m.error()]
            if batch:
                messages.extend(batch)
                quiet_since = time.monotonic()
            elif len(messages) >= expected and time.monotonic() - quiet_since >= settle:
                break
    finally:
        consumer.close()
    return messages


def produce(topic: str, *, key: str, value: bytes, headers: dict[str, str] | None = None) -> None:
    producer = Producer(client_config())
    producer.produce(topic, key=key.encode(), value=value, headers=list((headers or {}).items()))
    assert producer.flush(10) == 0


def headers_of(message: Any) -> dict[str, str]:
    return {name: value.decode() for name, value in message.headers() or []}


def task_representation(task_id: str | None = None, **overrides: Any) -> dict[str, Any]:
    """A task representation as in DESIGN.md section 4."""
    now = datetime.now(UTC).isoformat()
    task = {
        "id": task_id or str(uuid.uuid4()),
        "title": "Write the report",
        "description": "",
        "status": "open",
        "priority": "medium",
        "tags": ["work"],
        "due_at": None,
        "timezone": "Europe/Berlin",
        "recurrence_rule": None,
        "recurrence_mode": None,
        "series_id": None,
        "completed_at": None,
        "reminders": [],
        "created_at": now,
        "updated_at": now,
        "version": 1,
    }
    task.update(overrides)
    return task


def reminder_representation(task_id: str, **overrides: Any) -> dict[str, Any]:
    reminder = {
        "id": str(uuid.uuid4()),
        "task_id": task_id,
        "remind_at": datetime.now(UTC).isoformat(),
        "offset_minutes": 30,
        "status": "scheduled",
    }
    reminder.update(overrides)
    return reminder


def task_event(task: dict[str, Any], *, event_type: str = "task.updated", user_id: str = "1") -> CloudEvent:
    """The event the task services' receivers record for `task` (DESIGN.md section 3)."""
    return CloudEvent(
        type=event_type, source="/tasks", subject=task["id"], userid=user_id, data={"task": task, "changes": {}}
    )
