"""The Kafka topics' configs and their creation (the `Topic` enum itself: `core.domain_events`)."""

from __future__ import annotations

import logging
import time

from confluent_kafka import KafkaException, TopicPartition
from confluent_kafka.admin import (
    AdminClient,
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    NewTopic,
    OffsetSpec,
)
from django.conf import settings

from core.domain_events import DLQ_SUFFIX, Topic
from kafka_bridge.config import client_config

logger = logging.getLogger(__name__)

__all__ = ["DLQ_SUFFIX", "Topic", "all_topic_names", "ensure_topics"]


def all_topic_names() -> list[str]:
    return [name for topic in Topic for name in (topic.value, topic.dlq)]


# Room for the envelope, the other task fields and the headers around the escaped text.
ENVELOPE_ALLOWANCE_BYTES = 64 * 1024


def max_record_bytes() -> int:
    """The largest record the outbox can hold. A task event carries the task's representation up
    to three times (`data.task`, and a changed description's old and new values in
    `data.changes`), each at most a request body at DATA_UPLOAD_MAX_MEMORY_SIZE, which JSON
    escaping can triple (a 2-byte UTF-8 character is stored as a 6-byte `\\uXXXX`)."""
    return 3 * 3 * settings.DATA_UPLOAD_MAX_MEMORY_SIZE + ENVELOPE_ALLOWANCE_BYTES


def topic_configs() -> dict[str, str]:
    """The configs every topic (DLQs too) gets at creation, and `kafka_topics` keeps in step."""
    return {
        "retention.ms": str(settings.KAFKA_TOPIC_RETENTION_MS),
        "cleanup.policy": settings.KAFKA_TOPIC_CLEANUP_POLICY,
        "min.insync.replicas": str(settings.KAFKA_TOPIC_MIN_INSYNC_REPLICAS),
        "max.message.bytes": str(max_record_bytes()),
    }


def ensure_topics(*, timeout: float = 15.0) -> dict[str, str]:
    """Create every topic and its DLQ if missing, with `topic_configs()`.
    Returns {topic: "created" | "exists"}."""
    admin = AdminClient(client_config())
    existing = set(admin.list_topics(timeout=timeout).topics)
    wanted = [
        NewTopic(
            name,
            num_partitions=settings.KAFKA_TOPIC_PARTITIONS,
            replication_factor=settings.KAFKA_TOPIC_REPLICATION_FACTOR,
            config=topic_configs(),
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
        _wait_for_leaders(admin, [topic.topic for topic in wanted], timeout=timeout)
    return result


def _wait_for_leaders(admin: AdminClient, names: list[str], *, timeout: float) -> None:
    """Until every partition of `names` answers an offsets request: a broker answers for a topic
    created a moment ago with NOT_LEADER_FOR_PARTITION until it has taken up the leadership."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            topics = admin.list_topics(timeout=timeout).topics
            partitions = [TopicPartition(name, p) for name in names for p in topics[name].partitions]
            if partitions:
                latest = dict.fromkeys(partitions, OffsetSpec.latest())
                for future in admin.list_offsets(latest, request_timeout=timeout).values():
                    future.result(timeout=timeout)
                return
        except (KafkaException, KeyError):
            pass
        if time.monotonic() > deadline:
            raise KafkaException(f"the partitions of {', '.join(names)} have no leader after {timeout} s")
        time.sleep(0.1)


def topic_config_differences(names: list[str], *, timeout: float = 15.0) -> dict[str, dict[str, tuple[str, str]]]:
    """{topic: {config: (current, wanted)}} for every config of `topic_configs()` that differs."""
    admin = AdminClient(client_config())
    wanted = topic_configs()
    resources = [ConfigResource(ConfigResource.Type.TOPIC, name) for name in names]
    differences: dict[str, dict[str, tuple[str, str]]] = {}
    for resource, future in admin.describe_configs(resources, request_timeout=timeout).items():
        current = future.result(timeout=timeout)
        differing = {
            key: (current[key].value if key in current else "", value)
            for key, value in wanted.items()
            if key not in current or current[key].value != value
        }
        if differing:
            differences[resource.name] = differing
    return differences


def update_topic_configs(differences: dict[str, dict[str, tuple[str, str]]], *, timeout: float = 15.0) -> None:
    """Set the wanted values of `differences` (incrementally: other configs stay as they are)."""
    if not differences:
        return
    admin = AdminClient(client_config())
    resources = [
        ConfigResource(
            ConfigResource.Type.TOPIC,
            name,
            incremental_configs=[
                ConfigEntry(key, wanted, incremental_operation=AlterConfigOpType.SET)
                for key, (_, wanted) in configs.items()
            ],
        )
        for name, configs in differences.items()
    ]
    for future in admin.incremental_alter_configs(resources, request_timeout=timeout).values():
        future.result(timeout=timeout)
