"""The consumer registry: the consumer definitions and the handlers registered with them.

Each consuming app declares its consumer in its own `kafka_handlers.py` (`register_consumer`)
and registers its handlers there with a decorator; `consumers()` imports every installed app's
`kafka_handlers` module, so the code that reads the registry names no app:

    CONSUMER = register_consumer(ConsumerDefinition(name="recurrence", group_id="recurrence", topics=(...)))

    @event_handler("recurrence", "task.completed")
    def handle_task_completed(event: CloudEvent) -> None: ...

A per-event handler runs inside a database transaction that also records the event id as
processed for the consumer's group, so a redelivered event is skipped. A batch handler gets every
record of a poll batch at once (the audit consumer stores them with one statement).
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.utils.module_loading import autodiscover_modules

from kafka_bridge.records import InvalidRecord

HANDLERS_MODULE = "kafka_handlers"
TEST_HANDLERS_MODULE = "kafka_bridge.tests.handlers"


@dataclass(frozen=True)
class ConsumerDefinition:
    name: str
    group_id: str
    topics: tuple[str, ...]
    # Records that cannot be processed go to `<topic>.dlq` (with headers saying why).
    dead_letter: bool = True
    max_attempts: int = 5
    batch: bool = False
    extra_config: dict[str, Any] = field(default_factory=dict)


CONSUMERS: dict[str, ConsumerDefinition] = {}
_discovered = False


def register_consumer(definition: ConsumerDefinition) -> ConsumerDefinition:
    """Add `definition` to the registry (its app's `kafka_handlers` module calls this at import);
    returns it. A second, different definition under the same name is an error."""
    known = CONSUMERS.get(definition.name)
    if known is not None and known != definition:
        raise ValueError(f"consumer {definition.name!r} registered twice with different definitions")
    CONSUMERS[definition.name] = definition
    return definition


def consumers() -> dict[str, ConsumerDefinition]:
    """The registry, after importing every installed app's `kafka_handlers` module once (and the
    test handlers when KAFKA_BRIDGE_TEST_CONSUMERS=1), so every definition and handler is in it."""
    global _discovered
    if not _discovered:
        autodiscover_modules(HANDLERS_MODULE)
        if os.environ.get("KAFKA_BRIDGE_TEST_CONSUMERS") == "1":
            importlib.import_module(TEST_HANDLERS_MODULE)
        _discovered = True
    return CONSUMERS


def register_test_consumers() -> None:
    """Test-only consumers (handlers in kafka_bridge/tests/handlers.py, which calls this), so that
    `run_consumer` child processes of the test suite run handlers with controlled failures; a
    child process finds them when KAFKA_BRIDGE_TEST_CONSUMERS=1 (never in production).
    Topic and group default to `bridge-test-<TEST_RUN_ID>`."""
    default = f"bridge-test-{os.environ.get('TEST_RUN_ID', 'local')}"
    topics = tuple(os.environ.get("KAFKA_BRIDGE_TEST_TOPICS", default).split(","))
    group = os.environ.get("KAFKA_BRIDGE_TEST_GROUP", default)
    register_consumer(ConsumerDefinition(name="bridge-test", group_id=group, topics=topics, max_attempts=3))
    register_consumer(
        ConsumerDefinition(
            name="bridge-test-batch", group_id=f"{group}-batch", topics=topics, dead_letter=False, batch=True
        )
    )


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
