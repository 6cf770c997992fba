"""The dead letter of a given-up notification: a redrivable `reminder.due` copy on `reminders.dlq`.

Redriving a given-up notification must deliver a `reminder.due` to the `notifications` group:
the `reminder.failed` event itself cannot requeue it (the group has already seen that event id
on `reminders`, and the runner skips repeats by id). So a notification that goes dead records,
next to its `reminder.failed`, a `reminder.due` copy with an id of its own, carrying the DLQ
headers of the shared dead-letter writer with the failure reason; `redrive_dlq reminders` then
requeues the notification (`notification_create_for_reminder`; DESIGN.md sections 3 and 6).
"""

from __future__ import annotations

from typing import Any

from core.correlation import get_correlation_id
from core.domain_events import Topic
from kafka_bridge.dead_letters import dead_letter_headers
from kafka_bridge.envelope import CloudEvent
from kafka_bridge.receivers import json_ready, record_event, validate_on_emit
from notifications_app.models import Notification

SOURCE = "/notifications"
GROUP = "notifications"
HANDLER = "notifications_app (notification dead)"


def notification_dead_letter(*, notification: Notification, reason: str, failed_event_id: str) -> None:
    """Write the redrivable `reminder.due` copy of dead `notification` to the outbox, in the
    caller's transaction; its headers name the `reminder.failed` event (`failed_event_id`)."""
    payload: dict[str, Any] = notification.payload or {}
    copy = CloudEvent(
        type="reminder.due",
        source=SOURCE,
        subject=str(notification.task_id),
        userid=str(notification.user_id),
        correlationid=get_correlation_id(),
        data=json_ready({"reminder": payload.get("reminder", {}), "task": payload.get("task") or {}}),
    )
    headers = dead_letter_headers(
        error=reason or "notification given up",
        handler=HANDLER,
        attempts=notification.attempts,
        group=GROUP,
        original_topic=Topic.REMINDERS.value,
        failed_event_id=failed_event_id,
    )
    validate_on_emit(copy)
    record_event(copy, (Topic.REMINDERS.dlq,), headers)
