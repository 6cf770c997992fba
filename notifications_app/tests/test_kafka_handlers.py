"""The `reminder.due` handler: one notification per reminder, its send job enqueued on commit."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from kafka_bridge.envelope import CloudEvent
from kafka_bridge.errors import PermanentError
from kafka_bridge.schemas import validate_event
from notifications_app.kafka_handlers import handle_reminder_due
from notifications_app.models import Notification, NotificationStatus
from notifications_app.tests.factories import reminder_payload, task_payload

pytestmark = pytest.mark.django_db


def _due_event(user: Any, **reminder_overrides: Any) -> CloudEvent:
    task = task_payload()
    return validate_event(
        CloudEvent(
            type="reminder.due",
            source="/notifications",
            subject=task["id"],
            userid=str(user.pk),
            data={"task": task, "reminder": reminder_payload(task, **reminder_overrides)},
        )
    )


def test_reminder_due_creates_one_queued_notification_and_enqueues_it_on_commit(
    user: Any, django_capture_on_commit_callbacks: Any
) -> None:
    event = _due_event(user)

    with django_capture_on_commit_callbacks() as callbacks:
        handle_reminder_due(event)
    handle_reminder_due(event)  # redelivered, or a second copy of the same reminder

    notification = Notification.objects.get()
    assert notification.status == NotificationStatus.QUEUED
    assert str(notification.reminder_id) == event.data["reminder"]["id"]
    assert str(notification.task_id) == event.data["task"]["id"]
    assert notification.user == user
    assert notification.payload == event.data
    assert notification.message_id == f"<reminder-{notification.id}@localhost>"
    assert len(callbacks) == 1


def test_user_without_email_gets_a_skipped_record_and_no_job(
    make_user: Any, django_capture_on_commit_callbacks: Any
) -> None:
    user = make_user("quiet")
    type(user).objects.filter(pk=user.pk).update(email="")

    with django_capture_on_commit_callbacks() as callbacks:
        handle_reminder_due(_due_event(user))

    assert Notification.objects.get().status == NotificationStatus.SKIPPED
    assert callbacks == []


def test_event_for_an_unknown_user_is_dead_lettered(user: Any) -> None:
    event = _due_event(user)
    unknown = CloudEvent(
        id=str(uuid.uuid4()),
        type=event.type,
        source=event.source,
        subject=event.subject,
        userid="999999",
        data=event.data,
    )
    with pytest.raises(PermanentError):
        handle_reminder_due(unknown)
    assert not Notification.objects.exists()


def test_reminder_due_for_a_dead_notification_requeues_it_and_changes_nothing_otherwise(
    user: Any, django_capture_on_commit_callbacks: Any
) -> None:
    event = _due_event(user)
    handle_reminder_due(event)
    notification = Notification.objects.get()
    Notification.objects.filter(id=notification.id).update(
        status=NotificationStatus.DEAD, attempts=1, last_error="permanent failure: 550"
    )
    redriven = CloudEvent(
        type=event.type, source=event.source, subject=event.subject, userid=event.userid, data=event.data
    )

    with django_capture_on_commit_callbacks() as callbacks:
        handle_reminder_due(redriven)

    notification.refresh_from_db()
    assert notification.status == NotificationStatus.QUEUED
    assert notification.attempts == 0
    assert len(callbacks) == 1
    Notification.objects.filter(id=notification.id).update(status=NotificationStatus.SENT)
    with django_capture_on_commit_callbacks() as callbacks:
        handle_reminder_due(redriven)
    assert Notification.objects.get().status == NotificationStatus.SENT
    assert callbacks == []
