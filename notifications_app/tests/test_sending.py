"""Sending one notification through a real SMTP server: once, retried when transient, dead when
permanent, announced as reminder.sent / reminder.failed on `reminders`, a dead one with one dead letter."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from kafka_bridge.models import OutboxEvent
from notifications_app.models import Notification, NotificationStatus
from notifications_app.services.notifications import notification_requeue, notifications_requeue_stale
from notifications_app.services.sending import notification_claim, notification_deliver
from notifications_app.tests.factories import make_notification
from notifications_app.tests.smtp import SMTPTestServer

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fast_retries")]


def _events(event_type: str) -> list[OutboxEvent]:
    return list(OutboxEvent.objects.filter(event_type=event_type).order_by("id"))


def test_notification_is_sent_once_with_its_message_id(user: Any, smtp_server: SMTPTestServer) -> None:
    notification = make_notification(user)

    assert notification_deliver(notification_id=notification.id).status == "sent"
    assert notification_deliver(notification_id=notification.id).status == "sent"

    notification.refresh_from_db()
    assert notification.status == NotificationStatus.SENT
    assert notification.attempts == 1
    assert notification.sent_at is not None
    assert notification.provider_message_id == notification.message_id
    [received] = smtp_server.messages
    assert received.rcpt_tos == [user.email]
    assert received.message_id == notification.message_id
    assert "Pay rent" in received.part("text/plain")
    assert "Pay rent" in received.part("text/html")
    [sent_event] = _events("reminder.sent")
    assert sent_event.topic == "reminders"
    assert sent_event.value["data"]["notification"]["status"] == "sent"
    assert sent_event.value["data"]["reminder"]["id"] == str(notification.reminder_id)


def test_greylisting_421_twice_then_250_gives_one_email_after_two_backed_off_retries(
    user: Any, smtp_server: SMTPTestServer, settings: Any
) -> None:
    smtp_server.script("RCPT", "421 4.7.0 greylisted, try later", "421 4.7.0 greylisted, try later")
    notification = make_notification(user)

    for attempt in (1, 2):
        before = timezone.now()
        assert notification_deliver(notification_id=notification.id).status == "failed"
        notification.refresh_from_db()
        assert notification.attempts == attempt
        assert "421" in notification.last_error
        # Full jitter under the exponential ceiling for this attempt.
        ceiling = min(settings.NOTIFICATION_RETRY_MAX_SECONDS, 0.01 * 2 ** (attempt - 1))
        assert before <= notification.next_attempt_at <= timezone.now() + timedelta(seconds=ceiling)
    assert notification_deliver(notification_id=notification.id).status == "sent"

    notification.refresh_from_db()
    assert notification.attempts == 3
    assert len(smtp_server.messages) == 1
    assert _events("reminder.failed") == []


@pytest.mark.parametrize(
    ("stage", "reply"),
    [
        ("RCPT", "550 5.1.1 no such user"),
        ("MAIL", "553 5.7.1 sender not allowed"),
        ("DATA", "554 5.7.1 rejected as spam"),
    ],
)
def test_permanent_5xx_goes_dead_at_once_and_is_dead_lettered(
    user: Any, smtp_server: SMTPTestServer, stage: str, reply: str
) -> None:
    smtp_server.script(stage, reply)
    notification = make_notification(user)

    assert notification_deliver(notification_id=notification.id).status == "dead"
    assert notification_deliver(notification_id=notification.id).status == "dead"

    notification.refresh_from_db()
    assert notification.status == NotificationStatus.DEAD
    assert notification.attempts == 1
    assert reply.split()[0] in notification.last_error
    assert smtp_server.messages == []
    [failed] = _events("reminder.failed")
    assert failed.topic == "reminders"
    # One dead letter: the redrivable reminder.due copy, naming the reminder.failed event.
    [dead_letter] = OutboxEvent.objects.filter(topic="reminders.dlq")
    assert dead_letter.event_type == "reminder.due"
    assert dead_letter.headers["failed_event_id"] == str(failed.event_id)
    assert dead_letter.headers["original_topic"] == "reminders"
    assert dead_letter.headers["group"] == "notifications"
    assert dead_letter.value["data"]["reminder"]["id"] == str(notification.reminder_id)
    data = failed.value["data"]
    assert data["notification"]["status"] == "dead"
    assert "permanent failure" in data["reason"]
    assert reply.split()[0] in data["reason"]


@pytest.mark.parametrize(("stage", "reply"), [("MAIL", "451 4.3.0 local error"), ("DATA", "452 4.3.1 full")])
def test_4xx_at_any_stage_is_retried(user: Any, smtp_server: SMTPTestServer, stage: str, reply: str) -> None:
    smtp_server.script(stage, reply)
    notification = make_notification(user)

    assert notification_deliver(notification_id=notification.id).status == "failed"
    assert notification_deliver(notification_id=notification.id).status == "sent"
    assert len(smtp_server.messages) == 1


def test_unreachable_server_is_retried_then_dead_when_attempts_run_out(user: Any, settings: Any) -> None:
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", SMTPTestServer().port  # nobody listens
    settings.NOTIFICATION_MAX_ATTEMPTS = 3
    notification = make_notification(user)

    statuses = [notification_deliver(notification_id=notification.id).status for _ in range(4)]

    assert statuses == ["failed", "failed", "dead", "dead"]
    notification.refresh_from_db()
    assert notification.attempts == 3
    assert "gave up after 3 attempts" in notification.last_error
    assert "Connection refused" in notification.last_error or "ConnectionRefused" in notification.last_error
    assert [event.topic for event in _events("reminder.failed")] == ["reminders"]
    assert [(row.topic, row.event_type) for row in OutboxEvent.objects.filter(topic="reminders.dlq")] == [
        ("reminders.dlq", "reminder.due")
    ]


def test_attempt_lost_mid_send_is_retried_after_its_lease_with_the_same_message_id(
    user: Any, smtp_server: SMTPTestServer
) -> None:
    notification = make_notification(user)
    claim = notification_claim(notification_id=notification.id)  # the attempt that "crashes"
    assert claim.attempt == 1

    leased = notification_deliver(notification_id=notification.id)
    assert leased.status == "leased"
    assert leased.retry_in > 0
    assert smtp_server.messages == []

    Notification.objects.filter(id=notification.id).update(lease_expires_at=timezone.now() - timedelta(seconds=1))
    assert notification_deliver(notification_id=notification.id).status == "sent"
    notification.refresh_from_db()
    assert notification.attempts == 2
    assert [message.message_id for message in smtp_server.messages] == [notification.message_id]


def test_user_without_email_is_skipped_and_nothing_is_sent(make_user: Any, smtp_server: SMTPTestServer) -> None:
    user = make_user("no-mail")
    type(user).objects.filter(pk=user.pk).update(email="")
    user.refresh_from_db()
    notification = make_notification(user)

    assert notification.status == NotificationStatus.SKIPPED
    assert notification_deliver(notification_id=notification.id).status == "skipped"
    assert smtp_server.messages == []


def test_requeued_dead_notification_is_sent_with_fresh_attempts_and_the_same_message_id(
    user: Any, smtp_server: SMTPTestServer
) -> None:
    smtp_server.script("RCPT", "550 5.1.1 mailbox disabled")
    notification = make_notification(user)
    assert notification_deliver(notification_id=notification.id).status == "dead"

    assert notification_requeue(notification_id=notification.id) is True
    assert notification_requeue(notification_id=notification.id) is False  # only dead ones
    assert notification_deliver(notification_id=notification.id).status == "sent"

    notification.refresh_from_db()
    assert notification.attempts == 1
    assert [message.message_id for message in smtp_server.messages] == [notification.message_id]


def test_sweep_enqueues_only_notifications_whose_job_looks_lost(user: Any) -> None:
    long_ago = timezone.now() - timedelta(minutes=5)
    stale_queued, _fresh_queued, overdue_retry, expired_lease, sent = (make_notification(user) for _ in range(5))
    Notification.objects.filter(id=stale_queued.id).update(updated_at=long_ago)
    Notification.objects.filter(id=overdue_retry.id).update(status=NotificationStatus.FAILED, next_attempt_at=long_ago)
    Notification.objects.filter(id=expired_lease.id).update(
        status=NotificationStatus.SENDING, lease_expires_at=long_ago
    )
    Notification.objects.filter(id=sent.id).update(status=NotificationStatus.SENT, updated_at=long_ago)

    # Not the fresh one (its job is presumably still queued), not the sent one.
    assert notifications_requeue_stale(grace_seconds=60) == 3
