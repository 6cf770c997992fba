"""Consumer-lag gauges for Prometheus, exported by the relay (`relay_outbox --loop`).

Lag is measured from outside the consumers (with `kafka_bridge.lag`), so it stays visible, and
keeps growing, while a consumer group is down: exactly when the alert rules of the Helm chart
(`kafka_consumer_lag_messages`, `kafka_consumer_lag_seconds`, per group, topic and partition)
must fire.

Exactly one relay process exports at a time: each exporter thread competes for a PostgreSQL
session advisory lock of its own, and the others publish no lag series at all. The alert rules
sum partitions per group and topic; two relays exporting the same partitions would double it.
If the exporting relay dies, its connection, and with it the lock, goes away, and another relay
takes over within one interval.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable

from django.db import DatabaseError, connection
from prometheus_client import Counter, Gauge

from kafka_bridge.lag import PartitionLag, group_lag
from kafka_bridge.registry import ConsumerDefinition, consumers

logger = logging.getLogger(__name__)

LABELS = ("group", "topic", "partition")
LAG_MESSAGES = Gauge("kafka_consumer_lag_messages", "Records the group has not committed yet", LABELS)
LAG_SECONDS = Gauge("kafka_consumer_lag_seconds", "Age of the group's oldest uncommitted record", LABELS)
LAG_ERRORS = Counter("kafka_consumer_lag_errors_total", "Lag measurements that failed", ["group"])

# The advisory lock key of the lag exporter: any fixed bigint no other code uses (the relay
# leader's is kafka_bridge.relay.leader.LEADER_LOCK_KEY).
EXPORTER_LOCK_KEY = 0x4C41_475F_4558_5052
DEFAULT_INTERVAL_SECONDS = 15.0


def export_lag(definitions: Iterable[ConsumerDefinition] | None = None) -> list[PartitionLag]:
    """Measure every group's lag and set the gauges; returns the measurements.

    A group whose measurement fails keeps no stale series (they are removed) and counts in
    `kafka_consumer_lag_errors_total`; the other groups are still measured.
    """
    measured: list[PartitionLag] = []
    for definition in definitions if definitions is not None else consumers().values():
        try:
            partitions = group_lag(definition.group_id, list(definition.topics))
        except Exception:  # noqa: BLE001 - one group's failure must not hide the others' lag
            logger.warning("consumer lag measurement failed", extra={"group": definition.group_id}, exc_info=True)
            LAG_ERRORS.labels(definition.group_id).inc()
            _remove_stale(definition.group_id, keep=set())
            continue
        _remove_stale(definition.group_id, keep={(p.group, p.topic, str(p.partition)) for p in partitions})
        for p in partitions:
            LAG_MESSAGES.labels(p.group, p.topic, str(p.partition)).set(p.messages_behind)
            LAG_SECONDS.labels(p.group, p.topic, str(p.partition)).set(p.seconds_behind)
        measured.extend(partitions)
    return measured


def clear_lag() -> None:
    """Remove every lag series of this process (it no longer exports)."""
    LAG_MESSAGES.clear()
    LAG_SECONDS.clear()


def _remove_stale(group: str, *, keep: set[tuple[str, str, str]]) -> None:
    """Remove `group`'s series other than `keep` (a topic or partition that went away)."""
    for gauge in (LAG_MESSAGES, LAG_SECONDS):
        # `_metrics` is prometheus_client's own label table; there is no public way to list it.
        for labels in list(gauge._metrics):
            if labels[0] == group and labels not in keep:
                gauge.remove(*labels)


class LagExporter(threading.Thread):
    """A daemon thread that exports every registered group's lag every `interval` seconds while
    it holds the exporter lock. Stops when `stop` is set (and releases the lock)."""

    def __init__(self, *, stop: threading.Event, interval: float = DEFAULT_INTERVAL_SECONDS) -> None:
        super().__init__(name="kafka-lag-exporter", daemon=True)
        self.stop = stop
        self.interval = interval
        self._holds_lock = False

    def run(self) -> None:
        logger.info("consumer lag exporter started", extra={"interval": self.interval})
        try:
            # The first measurement after one interval: the relay's start-up (publishing what
            # piled up while it was down) comes first.
            while not self.stop.wait(self.interval):
                if self._exporter_lock():
                    export_lag()
                else:
                    clear_lag()
        finally:
            clear_lag()
            # This thread's own connection: closing it releases the lock at once.
            connection.close()
            logger.info("consumer lag exporter stopped")

    def _exporter_lock(self) -> bool:
        """Whether this process is the exporter. A session lock lives as long as its connection:
        while this thread's connection answers, a lock taken on it is still held."""
        try:
            with connection.cursor() as cursor:
                if self._holds_lock:
                    cursor.execute("SELECT 1")
                else:
                    cursor.execute("SELECT pg_try_advisory_lock(%s)", [EXPORTER_LOCK_KEY])
                    self._holds_lock = bool(cursor.fetchone()[0])
                    if self._holds_lock:
                        logger.info("consumer lag exporter is exporting")
        except DatabaseError:
            logger.warning("consumer lag exporter lost the database; retrying", exc_info=True)
            self._holds_lock = False
            connection.close()
        return self._holds_lock


def start_lag_exporter(*, stop: threading.Event, interval: float) -> LagExporter | None:
    """Start the exporter thread; none when `interval` is 0 (disabled)."""
    if interval <= 0:
        return None
    consumers()  # discovered here, in the caller's thread: before the relay freezes its start-up objects
    exporter = LagExporter(stop=stop, interval=interval)
    exporter.start()
    return exporter
