"""`manage.py redrive_dlq <topic> [--dry-run]`: re-publish dead records to their original topic.

`<topic>` is the DLQ (`task-events.dlq`) or the topic whose DLQ to redrive (`task-events`).
"""

from __future__ import annotations

from typing import Any

from confluent_kafka import KafkaException
from django.core.management.base import BaseCommand, CommandError, CommandParser

from kafka_bridge.dead_letters import dlq_topic
from kafka_bridge.redrive import DeadRecord, redrive


class Command(BaseCommand):
    help = "Re-publish the records of a DLQ to their original topic (each record once)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("topic", help="the DLQ, or the topic whose DLQ to redrive")
        parser.add_argument("--dry-run", action="store_true", help="List the records; publish nothing.")

    def handle(self, *args: Any, topic: str, dry_run: bool, **options: Any) -> None:
        def report(record: DeadRecord) -> None:
            key = record.key.decode("utf-8", "replace") if record.key else ""
            self.stdout.write(f"{record.partition}/{record.offset} key={key} → {record.target}: {record.error}")

        try:
            count = redrive(topic, dry_run=dry_run, report=report)
        except (KafkaException, TimeoutError) as exc:
            raise CommandError(str(exc)) from exc
        verb = "would redrive" if dry_run else "redrove"
        self.stdout.write(f"{verb} {count} records from {dlq_topic(topic)}")
