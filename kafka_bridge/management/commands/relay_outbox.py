"""`manage.py relay_outbox [--loop] [--batch N]`: publish the outbox to Kafka.

Without `--loop`: publish what is pending (if no other relay leads) and exit. With `--loop`: the
production relay; stands by while another relay leads, publishes as rows commit, stops cleanly
on SIGTERM/SIGINT after the batch in hand is marked. The looping relay also exports every
consumer group's lag as Prometheus gauges (`kafka_bridge.lag_exporter`) every `--lag-interval`
seconds (KAFKA_LAG_EXPORT_INTERVAL, default 15; 0 turns it off).
"""

from __future__ import annotations

import os
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from core.gc_tuning import tune_bulk_loop
from core.metrics_server import start_metrics_server
from kafka_bridge import relay
from kafka_bridge.lag_exporter import DEFAULT_INTERVAL_SECONDS, start_lag_exporter
from kafka_bridge.shutdown import stop_event_on_signals
from kafka_bridge.topics import ensure_topics

EXPORTER_JOIN_SECONDS = 10.0


class Command(BaseCommand):
    help = "Publish pending outbox rows to Kafka (once, or continuously with --loop)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--loop", action="store_true", help="Keep running (the production relay).")
        parser.add_argument("--batch", type=int, default=relay.DEFAULT_BATCH_SIZE, help="Rows per batch.")
        parser.add_argument(
            "--metrics-port",
            type=int,
            default=int(os.environ.get("METRICS_PORT", "0")),
            help="Serve /metrics, /healthz and /readyz (with --loop).",
        )
        parser.add_argument(
            "--lag-interval",
            type=float,
            default=float(os.environ.get("KAFKA_LAG_EXPORT_INTERVAL", DEFAULT_INTERVAL_SECONDS)),
            help="Seconds between consumer-lag measurements (with --loop; 0: none).",
        )

    def handle(
        self, *args: Any, loop: bool, batch: int, metrics_port: int, lag_interval: float, **options: Any
    ) -> None:
        ensure_topics()
        if not loop:
            published, more = relay.publish_pending(batch_size=batch)
            self.stdout.write(f"published {published}{' (more pending)' if more else ''}")
            return
        start_metrics_server("relay", port=metrics_port)
        stop = stop_event_on_signals()
        exporter = start_lag_exporter(stop=stop, interval=lag_interval)
        tune_bulk_loop()  # after every import of start-up: short full collections, rare young ones
        try:
            relay.run_loop(batch_size=batch, stop=stop)
        finally:
            stop.set()
            if exporter is not None:
                # Let a measurement in flight finish rather than kill it inside librdkafka.
                exporter.join(timeout=EXPORTER_JOIN_SECONDS)
