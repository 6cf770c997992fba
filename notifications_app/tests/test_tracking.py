"""ESP tracking webhooks (anymail, here Postmark's format) update the notification's status."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from django.test import Client

from notifications_app.models import Notification, NotificationStatus
from notifications_app.tests.factories import make_notification

pytestmark = pytest.mark.django_db
URL = "/anymail/postmark/tracking/"


@pytest.fixture
def webhook(settings: Any) -> Any:
    settings.ANYMAIL = {"WEBHOOK_SECRET": "hook:s3cret"}
    auth = "Basic " + base64.b64encode(b"hook:s3cret").decode()

    def post(payload: dict[str, Any]) -> None:
        response = Client().post(URL, payload, content_type="application/json", HTTP_AUTHORIZATION=auth)
        assert response.status_code == 200, response.content

    return post


def _sent(user: Any, provider_message_id: str) -> Notification:
    notification = make_notification(user)
    Notification.objects.filter(id=notification.id).update(
        status=NotificationStatus.SENT, provider_message_id=provider_message_id
    )
    return notification


def test_delivery_webhook_marks_the_notification_delivered(user: Any, webhook: Any) -> None:
    notification = _sent(user, "pm-1")

    webhook(
        {
            "RecordType": "Delivery",
            "MessageID": "pm-1",
            "Recipient": user.email,
            "DeliveredAt": "2026-12-01T07:30:05Z",
            "Details": "250 OK",
        }
    )

    notification.refresh_from_db()
    assert notification.status == NotificationStatus.DELIVERED
    assert notification.delivered_at.isoformat() == "2026-12-01T07:30:05+00:00"


def test_bounce_after_delivery_wins_and_a_late_delivery_does_not_undo_it(user: Any, webhook: Any) -> None:
    notification = _sent(user, "pm-2")
    bounce = {
        "RecordType": "Bounce",
        "Type": "HardBounce",
        "MessageID": "pm-2",
        "Email": user.email,
        "BouncedAt": "2026-12-01T07:31:00Z",
        "Description": "mailbox does not exist",
    }

    webhook(bounce)
    webhook(
        {"RecordType": "Delivery", "MessageID": "pm-2", "Recipient": user.email, "DeliveredAt": "2026-12-01T07:30:05Z"}
    )

    notification.refresh_from_db()
    assert notification.status == NotificationStatus.BOUNCED
    assert notification.last_error == "mailbox does not exist"


def test_spam_complaint_is_recorded_and_found_by_our_metadata(user: Any, webhook: Any) -> None:
    notification = _sent(user, "")

    webhook(
        {
            "RecordType": "SpamComplaint",
            "Type": "SpamComplaint",
            "MessageID": "unknown-to-us",
            "Email": user.email,
            "BouncedAt": "2026-12-01T08:00:00Z",
            "Metadata": {"notification_id": str(notification.id)},
        }
    )

    notification.refresh_from_db()
    assert notification.status == NotificationStatus.COMPLAINED


def test_webhook_without_credentials_is_refused(user: Any, webhook: Any) -> None:
    notification = _sent(user, "pm-3")
    response = Client().post(URL, {"RecordType": "Delivery", "MessageID": "pm-3"}, content_type="application/json")
    assert response.status_code == 400
    notification.refresh_from_db()
    assert notification.status == NotificationStatus.SENT
