"""notifications_app's event routes: a notification's outcome, on `reminders` (read by
`core.domain_events.event_routes`)."""

from __future__ import annotations

from typing import Any

from core.domain_events import EventRoute, Topic
from notifications_app import signals
from notifications_app.event_payloads import ReminderFailedData, ReminderSentData

SOURCE = "/notifications"
TOPICS = (Topic.REMINDERS.value,)


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


ROUTES: tuple[EventRoute, ...] = (
    EventRoute(
        signals.reminder_sent,
        "reminder.sent",
        SOURCE,
        TOPICS,
        reminder_outcome_data,
        ReminderSentData,
        "A reminder's e-mail was accepted by the mail server or ESP.",
    ),
    EventRoute(
        signals.reminder_failed,
        "reminder.failed",
        SOURCE,
        TOPICS,
        reminder_outcome_data,
        ReminderFailedData,
        "A reminder's notification was given up (dead). A redrivable reminder.due copy goes to reminders.dlq.",
    ),
)
