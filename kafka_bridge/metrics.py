"""Prometheus metrics of the outbox, the relay and the consumer runner.

Counters live in the process that does the work: web and workers count recorded events, the
relay counts published ones and sets the backlog gauges, consumers count handled records.
`relay_outbox` and `run_consumer` expose them with `--metrics-port` (or METRICS_PORT), through
core/metrics_server.py.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge

EVENTS_RECORDED = Counter("outbox_events_recorded_total", "Outbox rows written", ["topic", "type"])
EVENTS_PUBLISHED = Counter("outbox_events_published_total", "Outbox rows acknowledged by Kafka", ["topic"])
EVENTS_FAILED = Counter("outbox_events_failed_total", "Outbox rows whose delivery failed (retried)", ["topic"])
EVENTS_REJECTED = Counter(
    "outbox_events_rejected_total", "Outbox rows Kafka refused for good (marked rejected)", ["topic", "reason"]
)
OUTBOX_BACKLOG = Gauge("outbox_backlog", "Unpublished outbox rows, as last seen by the relay")
OUTBOX_OLDEST_AGE = Gauge("outbox_oldest_age_seconds", "Age of the oldest unpublished outbox row")

RECORDS_HANDLED = Counter(
    "kafka_records_handled_total", "Records consumed, by outcome", ["group", "topic", "outcome"]
)  # outcome: processed | duplicate | skipped
RECORDS_RETRIED = Counter("kafka_records_retried_total", "Handler attempts that failed and were retried", ["group"])
RECORDS_DEAD_LETTERED = Counter("kafka_records_dead_lettered_total", "Records sent to a DLQ", ["group", "topic"])
CONSUMER_CLIENTS_REPLACED = Counter(
    "kafka_consumer_clients_replaced_total",
    "Consumer clients closed and created again after going KAFKA_CONSUMER_REJOIN_SECONDS without partitions",
    ["group"],
)
