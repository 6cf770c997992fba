"""Test-only handlers of the `bridge-test` consumers (registered when KAFKA_BRIDGE_TEST_CONSUMERS=1).

The task title chooses the behaviour, so a test controls failures through the events it writes:
  "permanent…"   raises PermanentError (straight to the DLQ)
  "transient…"   fails twice with TransientError, then succeeds
  "always-fail…" fails until the test sets the event's `fixed` key in Redis
  anything else  succeeds
Every committed handling pushes the event id to a Redis list (on commit), so a test sees the
visible effects, and every attempt increments a counter.
"""

from __future__ import annotations

import os
from typing import Any

import redis
from django.conf import settings
from django.db import transaction

from core.correlation import get_correlation_id
from kafka_bridge.envelope import CloudEvent
from kafka_bridge.errors import PermanentError, TransientError
from kafka_bridge.registry import CONSUMERS, batch_handler, event_handler, register_test_consumers
from kafka_bridge.schemas import EVENT_TYPES

if "bridge-test" not in CONSUMERS:
    register_test_consumers()

PREFIX = f"kafka-bridge-test:{os.environ.get('TEST_RUN_ID', 'local')}"


def redis_client() -> redis.Redis:
    return redis.Redis.from_url(settings.REDIS_URL)


def effects_key() -> str:
    return f"{PREFIX}:effects"


def attempts_key(event_id: str) -> str:
    return f"{PREFIX}:attempts:{event_id}"


def fixed_key(event_id: str) -> str:
    return f"{PREFIX}:fixed:{event_id}"


def correlations_key() -> str:
    return f"{PREFIX}:correlations"


def batches_key() -> str:
    return f"{PREFIX}:batches"


@event_handler("bridge-test", *sorted(EVENT_TYPES))
def handle_test_event(event: CloudEvent) -> None:
    client = redis_client()
    title = (event.data.get("task") or {}).get("title", "")
    attempts = client.incr(attempts_key(event.id))
    if title.startswith("permanent"):
        raise PermanentError("this event can never be handled")
    if title.startswith("transient") and attempts <= 2:
        raise TransientError(f"transient failure {attempts}")
    if title.startswith("always-fail") and not client.exists(fixed_key(event.id)):
        raise RuntimeError("handler always fails")
    client.hset(correlations_key(), event.id, get_correlation_id() or "")
    transaction.on_commit(lambda: client.rpush(effects_key(), event.id))


@batch_handler("bridge-test-batch")
def handle_test_batch(records: list[Any]) -> None:
    client = redis_client()
    entries = [f"{r.topic}:{r.partition}:{r.offset}:{r.event.id if r.event else 'invalid'}" for r in records]
    transaction.on_commit(lambda: client.rpush(batches_key(), *entries))
