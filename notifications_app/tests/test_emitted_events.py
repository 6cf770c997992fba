"""Every event type, emitted through the real services, fits its payload model (validated when
emitted, as KAFKA_VALIDATE_ON_EMIT does in the test suite, and again as a consumer decodes it)."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from core.domain_events import event_routes
from kafka_bridge.models import OutboxEvent
from kafka_bridge.schemas import decode_event, event_types
from notifications_app.services.batch_creation import notification_create_for_reminder
from notifications_app.services.sending import notification_deliver
from notifications_app.tests.smtp import SMTPTestServer
from tasks_app.reminders import reminders_dispatch_due
from tasks_app.services import task_complete, task_create, task_delete, task_reopen, task_update

pytestmark = pytest.mark.django_db


def _deliver_each_due_reminder(smtp_server: SMTPTestServer) -> list[str]:
    statuses = []
    for index, row in enumerate(OutboxEvent.objects.filter(event_type="reminder.due").order_by("id")):
        if index == 1:
            smtp_server.script("RCPT", "550 5.1.1 no such user")  # the second one is refused
        event = decode_event(json.dumps(row.value))
        notification, _ = notification_create_for_reminder(
            user_id=event.userid, task=event.data["task"], reminder=event.data["reminder"]
        )
        statuses.append(notification_deliver(notification_id=notification.id).status)
    return statuses


def test_every_event_type_is_emitted_by_the_services_and_fits_its_model(
    user: Any, smtp_server: SMTPTestServer, settings: Any
) -> None:
    settings.KAFKA_VALIDATE_ON_EMIT = True
    now = timezone.now()
    task = task_create(
        owner=user,
        title="Pay rent",
        due_at=now + timedelta(hours=2),
        timezone="Europe/Berlin",
        reminders=[{"remind_at": now - timedelta(seconds=2)}, {"remind_at": now + timedelta(hours=1)}],
    )
    task_create(
        owner=user,
        title="Call the bank",
        due_at=now + timedelta(hours=2),
        timezone="Europe/Berlin",
        reminders=[{"remind_at": now - timedelta(seconds=1)}],
    )
    task = task_update(task=task, title="Pay the rent")
    assert reminders_dispatch_due(now=now) == 2
    assert _deliver_each_due_reminder(smtp_server) == ["sent", "dead"]
    task = task_complete(task=task)  # cancels the reminder still ahead
    task = task_reopen(task=task)
    task_delete(task=task)

    rows = list(OutboxEvent.objects.order_by("id"))
    assert {row.event_type for row in rows} == event_types() == {route.event_type for route in event_routes()}
    for row in rows:
        event = decode_event(json.dumps(row.value))  # raises InvalidEvent naming the bad field
        route = next(route for route in event_routes() if route.event_type == event.type)
        expected_topics = {*route.topics, *(f"{topic}.dlq" for topic in route.topics)}
        assert row.topic in expected_topics
