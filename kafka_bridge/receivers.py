"""The routing table from domain signals to outbox rows (DESIGN.md sections 1 and 3).

Services send their app's domain signals inside their transaction; the receivers here turn each
into one CloudEvent and write it to the outbox, one row per topic, in that same transaction. So a
rolled-back change leaves no event, and the routing of events to topics lives in this one place.
The relay is woken by a NOTIFY that the outbox's INSERT trigger sends and PostgreSQL delivers at
commit (a looping relay LISTENs) and, unless KAFKA_OUTBOX_CELERY_WAKEUP is off, through Celery
after the commit (`relay_outbox_task`).

Connected by `KafkaBridgeConfig.ready()`.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, transaction
from django.dispatch import Signal

from core import tracing
from core.correlation import get_correlation_id
from core.domain_events import batched, outbox_batch
from kafka_bridge import metrics
from kafka_bridge.envelope import CloudEvent
from kafka_bridge.models import OutboxEvent
from kafka_bridge.topics import Topic
from notifications_app import signals as notification_signals
from tasks_app import signals as task_signals

logger = logging.getLogger(__name__)

__all__ = ["NOTIFY_CHANNEL", "outbox_batch", "outbox_rows", "record_event"]

TASK_TOPICS = (Topic.TASK_EVENTS.value, Topic.TASK_UPDATES.value)
REMINDER_TOPICS = (Topic.REMINDERS.value,)
NOTIFY_CHANNEL = "kafka_bridge_outbox"


def _json_ready(value: Any) -> Any:
    # Signals promise JSON-ready data, but UUIDs and datetimes slip in easily: store what a
    # consumer will read back, so the outbox row is exactly the record.
    return json.loads(json.dumps(value, cls=DjangoJSONEncoder))


def task_event_data(*, task: dict[str, Any], changes: dict[str, Any] | None = None, **_: Any) -> dict[str, Any]:
    return {"task": task, "changes": changes or {}}


def reminder_event_data(*, reminder: dict[str, Any], task: dict[str, Any], **_: Any) -> dict[str, Any]:
    return {"reminder": reminder, "task": task}


def reminder_outcome_data(
    *,
    reminder: dict[str, Any],
    notification: dict[str, Any],
    task: dict[str, Any] | None = None,
    reason: str | None = None,
    **_: Any,
) -> dict[str, Any]:
    data: dict[str, Any] = {"reminder": reminder, "notification": notification}
    if task is not None:
        data["task"] = task
    if reason is not None:
        data["reason"] = reason
    return data


@dataclass(frozen=True)
class Route:
    signal: Signal
    event_type: str
    source: str
    topics: tuple[str, ...]
    data: Callable[..., dict[str, Any]]


ROUTES: tuple[Route, ...] = (
    Route(task_signals.task_created, "task.created", "/tasks", TASK_TOPICS, task_event_data),
    Route(task_signals.task_updated, "task.updated", "/tasks", TASK_TOPICS, task_event_data),
    Route(task_signals.task_completed, "task.completed", "/tasks", TASK_TOPICS, task_event_data),
    Route(task_signals.task_reopened, "task.reopened", "/tasks", TASK_TOPICS, task_event_data),
    Route(task_signals.task_deleted, "task.deleted", "/tasks", TASK_TOPICS, task_event_data),
    Route(task_signals.reminder_scheduled, "reminder.scheduled", "/tasks", REMINDER_TOPICS, reminder_event_data),
    Route(task_signals.reminder_cancelled, "reminder.cancelled", "/tasks", REMINDER_TOPICS, reminder_event_data),
    Route(notification_signals.reminder_due, "reminder.due", "/notifications", REMINDER_TOPICS, reminder_event_data),
    Route(
        notification_signals.reminder_sent, "reminder.sent", "/notifications", REMINDER_TOPICS, reminder_outcome_data
    ),
    # A notification given up is also dead-lettered: the event itself (for operators and audit)
    # and a redrivable copy (see `dead_letter_failed_reminder`).
    Route(
        notification_signals.reminder_failed,
        "reminder.failed",
        "/notifications",
        (*REMINDER_TOPICS, Topic.REMINDERS.dlq),
        reminder_outcome_data,
    ),
)


def outbox_rows(
    event: CloudEvent, topics: tuple[str, ...], extra_headers: dict[str, str] | None = None
) -> list[OutboxEvent]:
    """The unsaved outbox rows of `event`: one per topic, keyed by the subject (the task id),
    with the `ce_id`, `ce_type` and `correlation_id` headers (plus `extra_headers`)."""
    headers = {"ce_id": event.id, "ce_type": event.type}
    if event.correlationid:
        headers["correlation_id"] = event.correlationid
    # The trace context of the change (with OpenTelemetry on), continued by the relay.
    headers.update(tracing.trace_headers())
    headers.update(extra_headers or {})
    value = event.to_dict()
    return [
        OutboxEvent(
            event_id=event.id, event_type=event.type, topic=topic, key=event.subject, value=value, headers=headers
        )
        for topic in topics
    ]


def _insert_rows(rows: list[OutboxEvent]) -> None:
    OutboxEvent.objects.insert_all(rows)


def record_event(
    event: CloudEvent, topics: tuple[str, ...], extra_headers: dict[str, str] | None = None
) -> list[OutboxEvent]:
    """Write `event` to the outbox, one row per topic, in the caller's transaction, and wake the
    relay once that transaction commits. Record key: the event's subject (the task id). The
    stored value gets the event's CloudEvents `sequence` (`OutboxEventManager.insert_all`).
    Within `outbox_batch()` the rows are saved (and get their ids and sequence) when the batch
    ends."""
    rows = outbox_rows(event, topics, extra_headers)
    batch = batched(_insert_rows)
    if batch is None:
        rows = OutboxEvent.objects.insert_all(rows)
    else:
        batch.extend(rows)
    for topic in topics:
        metrics.EVENTS_RECORDED.labels(topic, event.type).inc()
    _wake_relay_on_commit()
    return rows


def _wake_relay() -> None:
    from kafka_bridge.tasks import relay_outbox_task

    try:
        # A relay task that waited a minute is pointless: the beat sweep will have run by then.
        relay_outbox_task.apply_async(expires=60)
    except Exception:  # noqa: BLE001 - the write is committed; the sweep and the relay loop catch up
        logger.warning("could not enqueue the outbox relay; the sweep will publish", exc_info=True)


def _wake_relay_on_commit() -> None:
    # A looping relay (`relay_outbox --loop`) LISTENs: the outbox's INSERT trigger NOTIFYs, and
    # PostgreSQL delivers that only when the transaction commits (migration 0002). Celery wakes
    # the relay where no loop runs; where one does, KAFKA_OUTBOX_CELERY_WAKEUP=false saves a
    # broker publish per write (and a worker job). One wake-up per transaction is enough: the
    # relay publishes everything pending.
    if not settings.KAFKA_OUTBOX_CELERY_WAKEUP:
        return
    if any(callback is _wake_relay for _, callback, _ in connection.run_on_commit):
        return
    transaction.on_commit(_wake_relay, robust=True)


def dead_letter_failed_reminder(
    failed: CloudEvent,
    *,
    reminder: dict[str, Any],
    task: dict[str, Any] | None,
    notification: dict[str, Any],
    reason: str | None = None,
    **_: Any,
) -> list[OutboxEvent]:
    """Record on `reminders.dlq`, next to the `reminder.failed` event, what redriving a given-up
    notification must deliver: a `reminder.due` copy with its own event id (the notifications
    group has already processed the original due event, and skips repeats by id), carrying the
    DLQ headers of the consumer runner with the failure reason. `redrive_dlq reminders` then
    requeues the notification (DESIGN.md section 6; notifications_app/services/sending.py)."""
    copy = CloudEvent(
        type="reminder.due",
        source="/notifications",
        subject=failed.subject,
        userid=failed.userid,
        correlationid=failed.correlationid,
        data=_json_ready({"reminder": reminder, "task": task or {}}),
    )
    headers = {
        "error": (reason or "notification given up")[:2000],
        "handler": "notifications_app (notification dead)",
        "attempts": str(notification.get("attempts", "")),
        "failed_at": failed.to_dict()["time"],
        "group": "notifications",
        "original_topic": Topic.REMINDERS.value,
        "failed_event_id": failed.id,
    }
    return record_event(copy, (Topic.REMINDERS.dlq,), headers)


DEAD_LETTERS: dict[str, Callable[..., list[OutboxEvent]]] = {"reminder.failed": dead_letter_failed_reminder}


def _receiver(route: Route) -> Callable[..., None]:
    def receive(sender: Any, *, task_id: Any, user_id: Any, **kwargs: Any) -> None:
        event = CloudEvent(
            type=route.event_type,
            source=route.source,
            subject=str(task_id),
            userid=str(user_id),
            correlationid=get_correlation_id(),
            data=_json_ready(route.data(**kwargs)),
        )
        record_event(event, route.topics)
        if route.event_type in DEAD_LETTERS:
            DEAD_LETTERS[route.event_type](event, **kwargs)

    receive.__name__ = f"record_{route.event_type.replace('.', '_')}"
    return receive


def connect() -> None:
    """Connect every route's receiver (idempotent: dispatch_uid)."""
    for route in ROUTES:
        route.signal.connect(_receiver(route), dispatch_uid=f"kafka_bridge.outbox.{route.event_type}", weak=False)
