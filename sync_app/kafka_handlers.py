"""The `sync` consumer: task updates from `task-updates` to the owners' browsers.

A batch consumer: each poll batch is stored with a few statements in one transaction
(`services.sync_updates_record`) and sent to the owners' groups after it commits; the runner
commits the offsets after that, so a crash redelivers the batch and the event ids absorb it.
Records that can never be stored are handed back to the runner, which dead-letters them.
"""

from __future__ import annotations

import contextlib
import logging
import uuid

from core import tracing
from core.domain_events import Topic
from kafka_bridge.consumer.dedupe import record_processed
from kafka_bridge.records import ConsumedRecord, InvalidRecord
from kafka_bridge.registry import ConsumerDefinition, batch_handler, register_consumer
from sync_app.metrics import REJECTED_RECORDS
from sync_app.protocol import UPDATE_TYPES
from sync_app.services import PendingUpdate, sync_updates_record

logger = logging.getLogger(__name__)

MAX_USER_ID = 2**63 - 1  # user ids are bigint

CONSUMER = register_consumer(
    ConsumerDefinition(name="sync", group_id="sync", topics=(Topic.TASK_UPDATES.value,), batch=True)
)


@batch_handler("sync")
def store_task_updates(records: list[ConsumedRecord]) -> list[InvalidRecord]:
    """Store every task update of the batch for the task's owner (the envelope's `userid`),
    idempotent on the event id, and on commit send each to its owner's group.

    A record that can never be stored (not a valid event, no user id, no task representation)
    is logged, counted and returned as an `InvalidRecord`: the runner dead-letters it to
    `<topic>.dlq` and the rest of the batch goes on (raising would retry the whole batch).
    Events of other types are ignored. Only database errors raise (the runner retries the
    batch). The stored event ids are also recorded as processed for the group, as the
    per-record runner does.
    """
    updates, rejected = [], []
    for record in records:
        update = pending_update(record)
        if isinstance(update, PendingUpdate):
            updates.append(update)
        elif update is not None:
            rejected.append(InvalidRecord(record, update))
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
    if updates and records[0].group:
        record_processed(records[0].group, (update.event_id for update in updates))
    return rejected


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
