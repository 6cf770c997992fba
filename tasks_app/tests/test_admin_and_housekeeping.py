from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from tasks_app.models import IdempotencyKey, Task, TaskStatus
from tasks_app.schedules import BEAT_SCHEDULE
from tasks_app.services import task_create
from tasks_app.tasks import prune_idempotency_keys_task

pytestmark = pytest.mark.django_db


def test_admin_lists_searches_and_filters_tasks(admin_client, user):
    task_create(owner=user, title="Quarterly report", due_at=timezone.now(), reminders=[{"offset_minutes": 5}])
    task_create(owner=user, title="Groceries", priority="urgent")
    listing = admin_client.get("/admin/tasks_app/task/", {"q": "quarterly"})
    assert listing.status_code == 200
    assert b"Quarterly report" in listing.content
    assert b"Groceries" not in listing.content
    filtered = admin_client.get("/admin/tasks_app/task/", {"priority__exact": "urgent"})
    assert b"Groceries" in filtered.content
    assert b"Quarterly report" not in filtered.content


def test_admin_change_page_shows_reminders_inline(admin_client, user):
    task = task_create(
        owner=user, title="t", due_at=timezone.now() + timedelta(days=1), reminders=[{"offset_minutes": 5}]
    )
    page = admin_client.get(f"/admin/tasks_app/task/{task.id}/change/")
    assert page.status_code == 200
    assert b"Reminders" in page.content


def test_admin_complete_action_goes_through_the_service(admin_client, user, sent):
    task = task_create(owner=user, title="t")
    sent.clear()
    response = admin_client.post(
        "/admin/tasks_app/task/", {"action": "complete_tasks", "_selected_action": [str(task.id)]}
    )
    assert response.status_code == 302
    assert Task.objects.get(pk=task.id).status == TaskStatus.COMPLETED
    assert sent.names() == ["task_completed"]


def test_admin_delete_action_goes_through_the_service(admin_client, user, sent):
    task = task_create(owner=user, title="t")
    sent.clear()
    admin_client.post("/admin/tasks_app/task/", {"action": "delete_tasks", "_selected_action": [str(task.id)]})
    assert not Task.objects.filter(pk=task.id).exists()
    assert sent.names() == ["task_deleted"]


def test_prune_task_deletes_only_expired_idempotency_keys(user):
    now = timezone.now()
    IdempotencyKey.objects.create(user=user, key="old", scope="task_create", request_hash="x", expires_at=now)
    IdempotencyKey.objects.create(
        user=user, key="new", scope="task_create", request_hash="x", expires_at=now + timedelta(hours=1)
    )
    assert prune_idempotency_keys_task() == 1
    assert list(IdempotencyKey.objects.values_list("key", flat=True)) == ["new"]


def test_prune_task_is_on_the_beat_schedule():
    from todo_project.celery import app

    entry = BEAT_SCHEDULE["tasks-prune-idempotency-keys"]
    app.loader.import_default_modules()
    assert entry["task"] in app.tasks
