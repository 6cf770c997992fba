"""The process-wide Kafka producer: idempotent, acks from all in-sync replicas, low linger.

A lazy singleton (created on first use, so Celery's forked workers each make their own) that is
flushed at interpreter exit. Used by the relay and by dead letters (`kafka_bridge.dead_letters`:
the consumer runner, handlers and `redrive_dlq`).
"""

from __future__ import annotations

import atexit
import os
import threading
from typing import Any

from confluent_kafka import Producer

from kafka_bridge.config import client_config
from kafka_bridge.topics import max_record_bytes

FLUSH_TIMEOUT_SECONDS = 60.0
MESSAGE_TIMEOUT_MS = 30_000
PRODUCER_SIZE_MARGIN_BYTES = 1024 * 1024
DEFAULT_BATCH_BYTES = 1_000_000  # librdkafka's default batch.size

_lock = threading.Lock()
_producer: Producer | None = None
_pid: int | None = None


def producer_config(**overrides: Any) -> dict[str, Any]:
    return client_config(
        **{
            # No duplicates or reordering from the producer's own retries.
            "enable.idempotence": True,
            "acks": "all",
            # Events are small and latency matters more than batching (DESIGN.md section 10).
            "linger.ms": 1,
            # Every record gets a delivery report within this time (success or failure).
            "message.timeout.ms": MESSAGE_TIMEOUT_MS,
            # The Java client's partitioner, so keys map to the same partitions from any client.
            "partitioner": "murmur2_random",
            # Above every topic's max.message.bytes: the broker, which knows each topic's limit,
            # is the one that refuses a record too large (and the relay marks its row rejected).
            "message.max.bytes": max_record_bytes() + PRODUCER_SIZE_MARGIN_BYTES,
            # Batches of several records stay under the topics' limit: a size error then names
            # a batch whose one record is too large, never its neighbours.
            "batch.size": min(DEFAULT_BATCH_BYTES, max_record_bytes()),
            **overrides,
        }
    )


def get_producer() -> Producer:
    global _producer, _pid
    with _lock:
        if _producer is None or _pid != os.getpid():
            _producer = Producer(producer_config())
            _pid = os.getpid()
        return _producer


def flush() -> int:
    """Wait for outstanding deliveries; returns how many are still undelivered."""
    if _producer is None or _pid != os.getpid():
        return 0
    return _producer.flush(FLUSH_TIMEOUT_SECONDS)


def close(timeout: float = 5.0) -> None:
    """Flush and drop the producer, e.g. before its broker goes away (the test harness)."""
    global _producer
    with _lock:
        if _producer is not None and _pid == os.getpid():
            _producer.flush(timeout)
        _producer = None


atexit.register(flush)
