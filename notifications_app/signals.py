"""Domain signals of notifications_app, sent only by its services inside their transaction.

kafka_bridge routes them to the `reminders` topic; `reminder_failed` (a notification given up,
status "dead") also goes to `reminders.dlq` so operators can redrive it. Keyword arguments:

reminder_due:
    task_id: UUID, user_id: int, reminder: dict ({"id", "task_id", "remind_at", "offset_minutes",
    "status", "fired_at", "late"}), task: dict (the task's REST representation)
reminder_sent:
    task_id: UUID, user_id: int, reminder: dict, notification: dict ({"id", "channel", "status",
    "attempts", "last_error", "provider_message_id"})
reminder_failed:
    same as reminder_sent, plus reason: str
"""

from django.dispatch import Signal

reminder_due = Signal()
reminder_sent = Signal()
reminder_failed = Signal()
