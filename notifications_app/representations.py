"""JSON shapes of a notification: in `reminder.sent` / `reminder.failed` events and the API."""

from __future__ import annotations

from typing import Any

from notifications_app.models import Notification


def notification_event_representation(notification: Notification) -> dict[str, Any]:
    """The `notification` object of `reminder.sent` / `reminder.failed` (`NotificationRepresentation`)."""
    return {
        "id": str(notification.id),
        "channel": notification.channel,
        "status": notification.status,
        "attempts": notification.attempts,
        "last_error": notification.last_error,
        "provider_message_id": notification.provider_message_id,
    }
