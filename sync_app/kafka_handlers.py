"""The `sync` consumer group: task updates from `task-updates` to the owners' browsers.

A batch consumer: each poll batch is stored with a few statements in one transaction
(`services.sync_updates_record`) and sent to the owners' groups after it commits; the runner
commits the offsets after that, so a crash redelivers the batch and the event ids absorb it.
"""

from __future__ import annotations

import contextlib
import logging
import uuid
from datetime import UTC, datetime
from typing import Any

from confluent_kafka import KafkaException

from core import tracing
from kafka_bridge.dead_letters import DLQ_HEADERS, ERROR_HEADER_LENGTH
from kafka_bridge.models import ProcessedEvent
from kafka_bridge.producer import get_producer
from kafka_bridge.records import ConsumedRecord
from kafka_bridge.registry import batch_handler
from kafka_bridge.topics import DLQ_SUFFIX
from sync_app.metrics import REJECTED_RECORDS
from sync_app.protocol import UPDATE_TYPES
from sync_app.services import PendingUpdate, sync_updates_record

logger = logging.getLogger(__name__)

MAX_USER_ID = 2**63 - 1  # user ids are bigint


@batch_handler("sync")
def store_task_updates(records: list[ConsumedRecord]) -> None:
    """Store every task update of the batch for the task's owner (the envelope's `userid`),
    idempotent on the event id, and on commit send each to its owner's group.

    A record that can never be stored (not a valid event, no user id, no task representation)
    is logged, counted and dead-lettered to `<topic>.dlq`, and the rest of the batch goes on:
    raising would retry the whole batch. Events of other types are ignored. Only database and
    DLQ errors raise (the runner retries the batch). The stored event ids are also recorded as
    processed for the group, as the per-record runner does.
    """
    updates, rejected = [], []
    for record in records:
        update = pending_update(record)
        if isinstance(update, PendingUpdate):
            updates.append(update)
        elif update is not None:
            rejected.append((record, update))
    with contextlib.ExitStack() as spans:
        if tracing.enabled():
            # A "<topic> process" span per record, child of the context its producer sent.
            for record in records:
                if record.event is not None and record.event.type in UPDATE_TYPES:
                    spans.enter_context(
                        tracing.consume_span(
                            record.headers, topic=record.topic, group=record.group, event_type=record.event.type
                        )
                    )
        sync_updates_record(updates=updates)
    # As the per-record runner does: the ids handled for the group, and the rejects in the DLQ.
    handled = {update.event_id for update in updates}
    if handled and records[0].group:
        ProcessedEvent.objects.bulk_create(
            [ProcessedEvent(group=records[0].group, event_id=event_id) for event_id in handled], ignore_conflicts=True
        )
    if rejected:
        dead_letter(rejected)


def dead_letter(rejected: list[tuple[ConsumedRecord, str]]) -> None:
    """Produce each (record, why) to `<topic>.dlq` with the runner's DLQ headers and wait for the
    broker. Raises when one is not acknowledged: the batch is then retried (its stores are
    idempotent), so a reject reaches the DLQ at least once."""
    producer = get_producer()
    errors: list[Any] = []
    failed_at = datetime.now(UTC).isoformat().encode()
    for record, error in rejected:
        headers = [(name, value.encode()) for name, value in record.headers.items() if name not in DLQ_HEADERS]
        headers += [
            ("error", error[:ERROR_HEADER_LENGTH].encode()),
            ("handler", f"{__name__}.store_task_updates".encode()),
            ("attempts", b"1"),
            ("failed_at", failed_at),
            ("group", record.group.encode()),
            ("original_topic", record.topic.encode()),
            ("original_partition", str(record.partition).encode()),
            ("original_offset", str(record.offset).encode()),
        ]
        producer.produce(
            record.topic + DLQ_SUFFIX,
            key=record.key,
            value=record.value,
            headers=headers,
            on_delivery=lambda err, msg: errors.append(err),
        )
    producer.flush(30)
    failures = [err for err in errors if err is not None]
    if failures or len(errors) < len(rejected):
        raise KafkaException(failures[0] if failures else "DLQ produce timed out")


def pending_update(record: ConsumedRecord) -> PendingUpdate | str | None:
    """The update `record` carries; None when it is an event of another type; else why it can
    never be stored (logged and counted)."""
    event = record.event
    if event is None:
        return _reject(record, "invalid_event", record.error or "not a valid event")
    if event.type not in UPDATE_TYPES:
        return None
    task = event.data.get("task") if isinstance(event.data, dict) else None
    if not isinstance(task, dict) or not task.get("id"):
        return _reject(record, "invalid_task", "data.task must be the task's representation")
    if not (event.userid.isascii() and event.userid.isdigit() and int(event.userid) <= MAX_USER_ID):
        return _reject(record, "invalid_user", f"userid must be a user id, not {event.userid!r}")
    try:
        event_id = uuid.UUID(event.id)
    except ValueError:
        return _reject(record, "invalid_event", "the event id is not a UUID")
    return PendingUpdate(event_id=event_id, event_type=event.type, user_id=int(event.userid), task=task)


def _reject(record: ConsumedRecord, reason: str, error: str) -> str:
    REJECTED_RECORDS.labels(reason).inc()
    logger.error(
        "task update record cannot be stored; skipped",
        extra={
            "topic": record.topic,
            "partition": record.partition,
            "offset": record.offset,
            "event_id": record.event.id if record.event is not None else None,
            "reason": reason,
            "error": error[:500],
        },
    )
    return f"{reason}: {error}"
