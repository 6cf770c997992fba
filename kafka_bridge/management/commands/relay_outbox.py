"""`manage.py relay_outbox [--loop] [--batch N]`: publish the outbox to Kafka.

Without `--loop`: publish what is pending (if no other relay leads) and exit. With `--loop`: the
production relay; stands by while another relay leads, publishes as rows commit, stops cleanly
on SIGTERM/SIGINT after the batch in hand is marked.
"""

from __future__ import annotations

import os
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from kafka_bridge import metrics, relay
from kafka_bridge.shutdown import stop_event_on_signals
from kafka_bridge.topics import ensure_topics


class Command(BaseCommand):
    help = "Publish pending outbox rows to Kafka (once, or continuously with --loop)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--loop", action="store_true", help="Keep running (the production relay).")
        parser.add_argument("--batch", type=int, default=relay.DEFAULT_BATCH_SIZE, help="Rows per batch.")
        parser.add_argument(
            "--metrics-port", type=int, default=int(os.environ.get("METRICS_PORT", "0")), help="Serve /metrics."
        )

    def handle(self, *args: Any, loop: bool, batch: int, metrics_port: int, **options: Any) -> None:
        ensure_topics()
        if not loop:
            published, more = relay.publish_pending(batch_size=batch)
            self.stdout.write(f"published {published}{' (more pending)' if more else ''}")
            return
        metrics.serve(metrics_port)
        relay.run_loop(batch_size=batch, stop=stop_event_on_signals())
