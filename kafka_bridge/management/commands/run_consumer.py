"""`manage.py run_consumer NAME`: run one registered Kafka consumer until SIGTERM/SIGINT."""

from __future__ import annotations

import dataclasses
import os
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from core.gc_tuning import tune_bulk_loop
from core.metrics_server import start_metrics_server
from kafka_bridge.consumer.loop import ConsumerRunner
from kafka_bridge.registry import consumers
from kafka_bridge.shutdown import stop_event_on_signals


class Command(BaseCommand):
    help = "Run a Kafka consumer from the registry (each app declares its own in its kafka_handlers.py)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name", help=f"one of: {', '.join(consumers())}")
        parser.add_argument(
            "--metrics-port",
            type=int,
            default=int(os.environ.get("METRICS_PORT", "0")),
            help="Serve /metrics, /healthz and /readyz.",
        )
        # As Sentry's `--consumer-group`: a second, independent group over the same topics (a
        # benchmark's own group, or a replay), never mixed with the deployed group's offsets.
        parser.add_argument("--group", default="", help="consumer group id (default: the definition's)")

    def handle(self, *args: Any, name: str, metrics_port: int, group: str, **options: Any) -> None:
        known = consumers()
        definition = known.get(name)
        if definition is None:
            raise CommandError(f"unknown consumer {name!r}; known: {', '.join(known)}")
        if group:
            definition = dataclasses.replace(definition, group_id=group)
        start_metrics_server("consumer", port=metrics_port)
        tune_bulk_loop()  # a long-running loop: short full collections, rare young ones
        ConsumerRunner(definition, stop=stop_event_on_signals()).run()
