"""The `notifications` consumer: its definition (topic `reminders`) and its handler."""

from __future__ import annotations

from core.domain_events import Topic
from kafka_bridge.envelope import CloudEvent
from kafka_bridge.errors import PermanentError
from kafka_bridge.registry import ConsumerDefinition, event_handler, register_consumer
from notifications_app.services.notifications import InvalidReminder, notification_create_for_reminder

CONSUMER = register_consumer(
    ConsumerDefinition(name="notifications", group_id="notifications", topics=(Topic.REMINDERS.value,))
)


@event_handler("notifications", "reminder.due")
def handle_reminder_due(event: CloudEvent) -> None:
    """One e-mail notification per reminder: created (or found) here, sent by a Celery job
    enqueued when the runner's transaction commits. A redelivered event changes nothing."""
    try:
        notification_create_for_reminder(
            user_id=event.userid, task=event.data.get("task"), reminder=event.data.get("reminder")
        )
    except InvalidReminder as exc:
        raise PermanentError(str(exc)) from exc
