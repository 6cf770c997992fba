"""Operators can browse the outbox and processed events in the admin, but not edit them."""

from __future__ import annotations

import uuid

import pytest
from django.utils import timezone

from kafka_bridge.models import OutboxEvent, OutboxPending, ProcessedEvent
from kafka_bridge.tests.kafka_helpers import task_representation
from tasks_app.signals import task_created


@pytest.mark.django_db
def test_outbox_and_processed_events_are_listed_read_only(admin_client) -> None:
    task = task_representation()
    task_created.send(sender=None, task_id=uuid.UUID(task["id"]), user_id=1, task=task, changes={})
    ProcessedEvent.objects.create(group="audit", event_id=uuid.uuid4())
    row = OutboxEvent.objects.first()

    assert task["id"] in admin_client.get("/admin/kafka_bridge/outboxevent/").content.decode()
    assert admin_client.get("/admin/kafka_bridge/processedevent/?group=audit").status_code == 200
    assert admin_client.get(f"/admin/kafka_bridge/outboxevent/{row.id}/change/").status_code == 200
    assert admin_client.get("/admin/kafka_bridge/outboxevent/add/").status_code == 403


@pytest.mark.django_db
def test_outbox_rows_are_filtered_by_state_pending_published_or_rejected(admin_client) -> None:
    first, second, third = task_representation(), task_representation(), task_representation()
    for task in (first, second, third):
        task_created.send(sender=None, task_id=uuid.UUID(task["id"]), user_id=1, task=task, changes={})
    OutboxPending.objects.filter(event__key=first["id"]).delete()  # what the relay does once acknowledged
    OutboxPending.objects.filter(event__key=third["id"]).delete()  # and once Kafka refused it for good
    OutboxEvent.objects.filter(key=third["id"]).update(rejected_at=timezone.now(), last_error="MSG_SIZE_TOO_LARGE")

    pages = {
        state: admin_client.get(f"/admin/kafka_bridge/outboxevent/?state={state}").content.decode()
        for state in ("published", "pending", "rejected")
    }

    shown = {state: [task["id"] in page for task in (first, second, third)] for state, page in pages.items()}
    assert shown == {
        "published": [True, False, False],
        "pending": [False, True, False],
        "rejected": [False, False, True],
    }
