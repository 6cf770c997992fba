"""The consumer registry: named consumer definitions and the handlers registered with them.

A handler module registers with a decorator; the runner (`manage.py run_consumer NAME`) imports
the definition's handler modules, so registration happens where the handler is written:

    @event_handler("recurrence", "task.completed")
    def handle_task_completed(event: CloudEvent) -> None: ...

A per-event handler runs inside a database transaction that also records the event id as
processed for the consumer's group, so a redelivered event is skipped. A batch handler gets every
record of a poll batch at once (the audit consumer stores them with one statement).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from kafka_bridge.records import InvalidRecord
from kafka_bridge.topics import Topic


@dataclass(frozen=True)
class ConsumerDefinition:
    name: str
    group_id: str
    topics: tuple[str, ...]
    handler_modules: tuple[str, ...]
    # Records that cannot be processed go to `<topic>.dlq` (with headers saying why).
    dead_letter: bool = True
    max_attempts: int = 5
    batch: bool = False
    extra_config: dict[str, Any] = field(default_factory=dict)


CONSUMERS: dict[str, ConsumerDefinition] = {
    definition.name: definition
    for definition in (
        ConsumerDefinition(
            name="recurrence",
            group_id="recurrence",
            topics=(Topic.TASK_EVENTS.value,),
            handler_modules=("recurrence_app.kafka_handlers",),
        ),
        ConsumerDefinition(
            name="notifications",
            group_id="notifications",
            topics=(Topic.REMINDERS.value,),
            handler_modules=("notifications_app.kafka_handlers",),
        ),
        ConsumerDefinition(
            name="sync",
            group_id="sync",
            topics=(Topic.TASK_UPDATES.value,),
            handler_modules=("sync_app.kafka_handlers",),
            batch=True,
        ),
        ConsumerDefinition(
            name="audit",
            group_id="audit",
            topics=tuple(name for topic in Topic for name in (topic.value, topic.dlq)),
            handler_modules=("audit_app.kafka_handlers",),
            # The audit log stores what it is given, DLQ records included; it has no DLQ of its own.
            dead_letter=False,
            batch=True,
        ),
    )
}


def register_test_consumers() -> None:
    """Test-only consumers (handlers in kafka_bridge/tests/handlers.py), so that `run_consumer`
    child processes of the test suite run handlers with controlled failures. Registered when
    KAFKA_BRIDGE_TEST_CONSUMERS=1 (never in production) and when the test handlers are imported.
    Topic and group default to `bridge-test-<TEST_RUN_ID>`."""
    default = f"bridge-test-{os.environ.get('TEST_RUN_ID', 'local')}"
    topics = tuple(os.environ.get("KAFKA_BRIDGE_TEST_TOPICS", default).split(","))
    group = os.environ.get("KAFKA_BRIDGE_TEST_GROUP", default)
    CONSUMERS["bridge-test"] = ConsumerDefinition(
        name="bridge-test",
        group_id=group,
        topics=topics,
        handler_modules=("kafka_bridge.tests.handlers",),
        max_attempts=3,
    )
    CONSUMERS["bridge-test-batch"] = ConsumerDefinition(
        name="bridge-test-batch",
        group_id=f"{group}-batch",
        topics=topics,
        handler_modules=("kafka_bridge.tests.handlers",),
        dead_letter=False,
        batch=True,
    )


if os.environ.get("KAFKA_BRIDGE_TEST_CONSUMERS") == "1":
    register_test_consumers()

EventHandler = Callable[[Any], None]
# A batch handler may return the records it refuses for good; the runner dead-letters them.
BatchHandler = Callable[[Sequence[Any]], "Sequence[InvalidRecord] | None"]

_event_handlers: dict[tuple[str, str], list[EventHandler]] = {}
_batch_handlers: dict[str, BatchHandler] = {}


def event_handler(consumer: str, *event_types: str) -> Callable[[EventHandler], EventHandler]:
    """Register `fn(event: CloudEvent)` for `event_types` on the consumer named `consumer`."""
    if consumer not in CONSUMERS:
        raise KeyError(f"unknown consumer {consumer!r}")

    def register(fn: EventHandler) -> EventHandler:
        for event_type in event_types:
            handlers = _event_handlers.setdefault((consumer, event_type), [])
            if fn not in handlers:
                handlers.append(fn)
        return fn

    return register


def batch_handler(consumer: str) -> Callable[[BatchHandler], BatchHandler]:
    """Register `fn(records: Sequence[ConsumedRecord])` as the consumer's batch handler (the runner
    decodes each record when the handler first reads it: `consumer.decode.decoded_on_use`). It
    may return `InvalidRecord`s for records it refuses: those are dead-lettered."""
    if consumer not in CONSUMERS:
        raise KeyError(f"unknown consumer {consumer!r}")

    def register(fn: BatchHandler) -> BatchHandler:
        _batch_handlers[consumer] = fn
        return fn

    return register


def handlers_for(consumer: str, event_type: str) -> list[EventHandler]:
    return list(_event_handlers.get((consumer, event_type), ()))


def batch_handler_for(consumer: str) -> BatchHandler | None:
    return _batch_handlers.get(consumer)
