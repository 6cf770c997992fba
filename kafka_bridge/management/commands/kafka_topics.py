"""`manage.py kafka_topics`: create missing topics and their DLQs, verify their partitions, and
set their configs (retention, cleanup policy, min ISR, max message size) where they differ."""

from __future__ import annotations

from typing import Any

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from kafka_bridge.config import client_config
from kafka_bridge.topics import (
    all_topic_names,
    ensure_topics,
    topic_config_differences,
    topic_configs,
    update_topic_configs,
)


class Command(BaseCommand):
    help = (
        "Create the Kafka topics (and DLQs) if missing, verify partitions and replication, and set "
        "retention.ms, cleanup.policy, min.insync.replicas and max.message.bytes where they differ."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            status = ensure_topics()
            metadata = AdminClient(client_config()).list_topics(timeout=15)
        except KafkaException as exc:
            raise CommandError(f"Kafka at {settings.KAFKA_BOOTSTRAP_SERVERS} is not usable: {exc}") from exc
        problems = []
        for name in all_topic_names():
            topic = metadata.topics.get(name)
            if topic is None or topic.error is not None:
                problems.append(f"{name}: missing")
                continue
            partitions = len(topic.partitions)
            replicas = min((len(p.replicas) for p in topic.partitions.values()), default=0)
            self.stdout.write(f"{name}: {status.get(name, 'exists')}, {partitions} partitions, replication {replicas}")
            if partitions < settings.KAFKA_TOPIC_PARTITIONS:
                problems.append(f"{name}: {partitions} partitions, expected {settings.KAFKA_TOPIC_PARTITIONS}")
        if problems:
            raise CommandError("; ".join(problems))
        self._update_configs(all_topic_names())

    def _update_configs(self, names: list[str]) -> None:
        try:
            differences = topic_config_differences(names)
            update_topic_configs(differences)
        except KafkaException as exc:
            raise CommandError(f"the topic configs could not be read or set: {exc}") from exc
        for name, configs in differences.items():
            for key, (current, wanted) in configs.items():
                self.stdout.write(f"{name}: {key} {current or '(unset)'} -> {wanted}")
        self.stdout.write(f"topic configs: {', '.join(f'{k}={v}' for k, v in topic_configs().items())}")
