"""The catch-up job in a real Celery worker (RabbitMQ) repairs a successor the consumer never
created: no recurrence consumer runs in this module, as if its events were lost."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from kafka_bridge.models import OutboxEvent
from recurrence_app.tasks import recurrence_catch_up_task
from recurrence_app.tests.test_end_to_end import complete, create_recurring, successors
from tasks_app.models import Task
from tests.fixtures import ManagedProcesses, wait_until

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def test_the_catch_up_job_repairs_a_missing_successor(processes: ManagedProcesses, api_client: Any) -> None:
    task = create_recurring(api_client, due_at="2030-06-01T07:00:00", timezone="America/New_York")
    complete(api_client, task["id"])
    Task.objects.filter(pk=task["id"]).update(completed_at=timezone.now() - timedelta(minutes=30))
    assert not successors(task["id"])

    # Its own node name: the default one's control queue may be held by another worker on this host.
    processes.celery_worker("-n", f"recurrence-{uuid.uuid4().hex[:8]}@%h")
    recurrence_catch_up_task.delay()
    following = wait_until(lambda: successors(task["id"]), timeout=60, message="the catch-up's successor")[0]
    assert api_client.get(f"/api/v1/tasks/{following.id}/").json()["due_at"] == "2030-06-02T07:00:00-04:00"
    assert OutboxEvent.objects.filter(key=str(following.id), event_type="task.created").exists()

    assert recurrence_catch_up_task.apply().get() == 0  # a second pass finds nothing more to repair
    assert len(successors(task["id"])) == 1
