"""The Kafka topics (append-only enum) and their creation."""

from __future__ import annotations

import enum
import logging

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient, NewTopic
from django.conf import settings

from kafka_bridge.config import client_config

logger = logging.getLogger(__name__)

DLQ_SUFFIX = ".dlq"


class Topic(enum.StrEnum):
    TASK_EVENTS = "task-events"
    REMINDERS = "reminders"
    TASK_UPDATES = "task-updates"

    @property
    def dlq(self) -> str:
        return f"{self.value}{DLQ_SUFFIX}"


def all_topic_names() -> list[str]:
    return [name for topic in Topic for name in (topic.value, topic.dlq)]


def ensure_topics(*, timeout: float = 15.0) -> dict[str, str]:
    """Create every topic and its DLQ if missing. Returns {topic: "created" | "exists"}."""
    admin = AdminClient(client_config())
    existing = set(admin.list_topics(timeout=timeout).topics)
    wanted = [
        NewTopic(
            name,
            num_partitions=settings.KAFKA_TOPIC_PARTITIONS,
            replication_factor=settings.KAFKA_TOPIC_REPLICATION_FACTOR,
        )
        for name in all_topic_names()
        if name not in existing
    ]
    result = {name: "exists" for name in all_topic_names() if name in existing}
    if wanted:
        for name, future in admin.create_topics(wanted, operation_timeout=timeout).items():
            try:
                future.result(timeout=timeout)
            except KafkaException as exc:
                if "TOPIC_ALREADY_EXISTS" not in str(exc):
                    raise
            result[name] = "created"
            logger.info("kafka topic created", extra={"topic": name})
    return result
