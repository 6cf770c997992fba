"""anymail's tracking webhooks (`/anymail/<esp>/tracking/`) → notification delivery status.

Connected by `NotificationsAppConfig.ready()`. anymail has verified the webhook (its basic-auth
or signature settings) before the signal is sent.
"""

from __future__ import annotations

from typing import Any

from anymail.signals import AnymailTrackingEvent

from notifications_app.services.notifications import notification_record_tracking


def record_tracking_event(sender: Any, *, event: AnymailTrackingEvent, esp_name: str, **kwargs: Any) -> None:
    metadata = event.metadata if isinstance(event.metadata, dict) else {}
    notification_record_tracking(
        event_type=event.event_type,
        provider_message_id=event.message_id,
        notification_id=metadata.get("notification_id"),
        occurred_at=event.timestamp,
        description=event.description or event.mta_response or "",
    )
