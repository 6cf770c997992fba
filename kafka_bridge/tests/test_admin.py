"""Operators can browse the outbox and processed events in the admin, but not edit them."""

from __future__ import annotations

import uuid

import pytest

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
def test_outbox_rows_are_filtered_by_whether_they_are_published(admin_client) -> None:
    first, second = task_representation(), task_representation()
    for task in (first, second):
        task_created.send(sender=None, task_id=uuid.UUID(task["id"]), user_id=1, task=task, changes={})
    OutboxPending.objects.filter(event__key=first["id"]).delete()  # what the relay does once acknowledged

    published = admin_client.get("/admin/kafka_bridge/outboxevent/?published=yes").content.decode()
    pending = admin_client.get("/admin/kafka_bridge/outboxevent/?published=no").content.decode()

    assert (first["id"] in published, second["id"] in published) == (True, False)
    assert (first["id"] in pending, second["id"] in pending) == (False, True)
