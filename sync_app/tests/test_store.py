"""The sync store: recording updates (idempotent, per-user chain), the Kafka handler, retention."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from kafka_bridge.envelope import CloudEvent
from kafka_bridge.errors import PermanentError
from sync_app.kafka_handlers import handle_task_update
from sync_app.models import SyncRetentionMark, SyncUpdate
from sync_app.selectors import sync_cursor_is_resumable, sync_position, sync_updates_after
from sync_app.services import sync_update_record, sync_updates_prune
from sync_app.tasks import prune_sync_updates_task
from sync_app.tests.helpers import store_updates, task_payload

pytestmark = pytest.mark.django_db


def event_for(user, event_type="task.completed", **overrides):
    task = task_payload("Buy milk", status="completed")
    fields = {"type": event_type, "source": "/tasks", "subject": task["id"], "userid": str(user.pk)}
    fields.update(overrides)
    return CloudEvent(data={"task": task, "changes": {}}, **fields)


def test_the_handler_stores_the_update_for_the_owner_once(user):
    event = event_for(user)
    handle_task_update(event)
    handle_task_update(event)
    (stored,) = SyncUpdate.objects.all()
    assert (stored.user_id, str(stored.event_id), stored.type) == (user.pk, event.id, "task.completed")
    assert stored.task == event.data["task"]


@pytest.mark.parametrize(
    "overrides",
    [{"userid": "alice"}, {"data": {"task": "not a task"}}, {"data": {"changes": {}}}],
)
def test_the_handler_dead_letters_events_it_can_never_store(user, overrides):
    event = event_for(user)
    fields = {**event.__dict__, **overrides}
    with pytest.raises(PermanentError):
        handle_task_update(CloudEvent(**fields))
    assert not SyncUpdate.objects.exists()


def test_updates_for_a_deleted_user_are_skipped(user):
    user_id = user.pk
    user.delete()
    assert sync_update_record(event_id=uuid.uuid4(), event_type="task.created", user_id=user_id, task={}) is None


def test_each_update_names_the_previous_update_of_the_same_user(user, other_user):
    first = store_updates(user, 1)[0]
    store_updates(other_user, 1)
    second = store_updates(user, 1)[0]
    assert first.prev_cursor is None
    assert second.prev_cursor == first.cursor
    assert second.cursor > first.cursor


def test_pruning_removes_old_updates_and_marks_older_cursors_unresumable(user):
    old = store_updates(user, 3)
    SyncUpdate.objects.filter(cursor__in=[u.cursor for u in old]).update(
        created_at=timezone.now() - timedelta(hours=25)
    )
    recent = store_updates(user, 2)
    assert prune_sync_updates_task() == 3
    assert list(SyncUpdate.objects.values_list("cursor", flat=True).order_by("cursor")) == [u.cursor for u in recent]
    assert SyncRetentionMark.objects.get().pruned_through == old[-1].cursor
    assert not sync_cursor_is_resumable(user_id=user.pk, cursor=old[0].cursor)
    assert sync_cursor_is_resumable(user_id=user.pk, cursor=old[-1].cursor)
    assert sync_updates_after(user_id=user.pk, after=old[0].cursor) is None
    assert sync_updates_after(user_id=user.pk, after=old[-1].cursor) == recent
    assert prune_sync_updates_task() == 0


def test_the_position_of_a_user_without_updates_is_the_retention_mark(user, other_user):
    store_updates(other_user, 2)
    assert sync_position(user_id=user.pk) == 0
    sync_updates_prune(older_than=timezone.now() + timedelta(seconds=1))
    assert sync_position(user_id=user.pk) == SyncRetentionMark.objects.get().pruned_through > 0
    assert sync_cursor_is_resumable(user_id=user.pk, cursor=sync_position(user_id=user.pk))
