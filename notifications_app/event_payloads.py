"""The payload (`data`) models of notifications_app's events: reminder.sent and reminder.failed."""

from __future__ import annotations

from core.domain_events.fields import Int, NullableStr, OpenPayload, Payload, Str, StrOrInt, optional
from tasks_app.event_payloads import ReminderRepresentation, TaskRepresentation


class NotificationRepresentation(OpenPayload):
    """A notification's delivery state (`notifications_app.representations`)."""

    id: StrOrInt
    channel: Str
    status: Str
    attempts: Int
    last_error: NullableStr
    provider_message_id: NullableStr


class ReminderSentData(Payload):
    """reminder.sent: the server or ESP accepted the e-mail."""

    reminder: ReminderRepresentation
    notification: NotificationRepresentation
    task: TaskRepresentation = optional("the task, when the notification still had it")


class ReminderFailedData(ReminderSentData):
    """reminder.failed: the notification was given up (dead); `reason` says why."""

    reason: Str
