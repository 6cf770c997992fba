"""The sync store: recording updates (idempotent, per-user chain), the Kafka handler, retention."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from kafka_bridge.envelope import CloudEvent, InvalidEvent
from kafka_bridge.models import ProcessedEvent
from kafka_bridge.records import ConsumedRecord
from kafka_bridge.schemas import decode_event
from sync_app.kafka_handlers import store_task_updates
from sync_app.metrics import REJECTED_RECORDS
from sync_app.models import SyncRetentionMark, SyncUpdate
from sync_app.selectors import sync_cursor_is_resumable, sync_position, sync_resume, sync_updates_after
from sync_app.services import sync_update_record, sync_updates_prune
from sync_app.tasks import prune_sync_updates_task
from sync_app.tests.helpers import store_updates, task_payload

pytestmark = pytest.mark.django_db


def event_for(user, event_type="task.completed", **overrides):
    task = task_payload("Buy milk", status="completed")
    fields = {"type": event_type, "source": "/tasks", "subject": task["id"], "userid": str(user.pk)}
    fields.update(overrides)
    return CloudEvent(data={"task": task, "changes": {}}, **fields)


def record_of(event, *, offset=0, group="sync"):
    """A record as the runner hands it over, consumed for `group`. Events are taken as they are
    (their data is not checked against the task schema); raw bytes are decoded."""
    value = event.to_json() if isinstance(event, CloudEvent) else event
    decoded, error = None, None
    try:
        decoded = CloudEvent.from_json(value) if isinstance(event, CloudEvent) else decode_event(value)
    except InvalidEvent as exc:
        error = str(exc)
    return ConsumedRecord("task-updates", 0, offset, b"k", {"ce_id": "x"}, value, None, decoded, error, group=group)


def test_the_batch_handler_stores_each_update_for_its_owner_once(user, other_user):
    events = [event_for(user), event_for(other_user, "task.created"), event_for(user, "task.updated")]
    store_task_updates([record_of(e) for e in events] + [record_of(events[0])])  # a repeat in the batch
    store_task_updates([record_of(e) for e in events])  # the batch redelivered
    stored = list(SyncUpdate.objects.order_by("cursor"))
    assert [(s.user_id, str(s.event_id), s.type) for s in stored] == [(e_user(e), e.id, e.type) for e in events]
    assert stored[0].task == events[0].data["task"]
    assert set(ProcessedEvent.objects.filter(group="sync").values_list("event_id", flat=True)) == {
        uuid.UUID(e.id) for e in events
    }


def e_user(event):
    return int(event.userid)


def test_within_a_batch_each_update_names_the_previous_one_of_its_user(user, other_user):
    before = store_updates(user, 1)[0]
    events = [event_for(user), event_for(other_user), event_for(user), event_for(user), event_for(other_user)]
    store_task_updates([record_of(e) for e in events])
    mine = list(SyncUpdate.objects.filter(user=user).order_by("cursor"))
    theirs = list(SyncUpdate.objects.filter(user=other_user).order_by("cursor"))
    assert [str(u.event_id) for u in mine[1:]] == [e.id for e in events if e.userid == str(user.pk)]
    assert [u.prev_cursor for u in mine] == [None, before.cursor, mine[1].cursor, mine[2].cursor]
    assert [u.prev_cursor for u in theirs] == [None, theirs[0].cursor]


def test_records_that_can_never_be_stored_are_handed_back_and_the_rest_stored(user):
    good = event_for(user)
    bad = [
        record_of(event_for(user, userid="alice")),
        record_of(CloudEvent(**{**event_for(user).__dict__, "data": {"changes": {}}})),
        record_of(b"\x00 not json"),
    ]
    other_type = record_of(
        CloudEvent(type="task.exploded", source="/t", subject="x", userid=str(user.pk), data={}).to_json()
    )
    assert other_type.event is None  # unknown types fail decoding: dead-lettered too
    rejected_before = sum(
        REJECTED_RECORDS.labels(r)._value.get() for r in ("invalid_event", "invalid_user", "invalid_task")
    )
    refused = store_task_updates([*bad, record_of(good), other_type])
    assert [r.record for r in refused] == [*bad, other_type]  # the runner dead-letters these
    reasons = [r.reason.split(":")[0] for r in refused]
    assert reasons == ["invalid_user", "invalid_task", "invalid_event", "invalid_event"]
    assert [str(u.event_id) for u in SyncUpdate.objects.all()] == [good.id]
    rejected = sum(REJECTED_RECORDS.labels(r)._value.get() for r in ("invalid_event", "invalid_user", "invalid_task"))
    assert rejected == rejected_before + 4


def test_updates_are_sent_only_after_the_commit(user, django_capture_on_commit_callbacks, monkeypatch):
    sent = []
    monkeypatch.setattr("sync_app.services.broadcast_updates", lambda updates: sent.extend(updates))
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        store_task_updates([record_of(event_for(user)), record_of(event_for(user))])
        assert sent == []
    assert len(callbacks) == 1
    assert [u.cursor for u in sent] == list(SyncUpdate.objects.order_by("cursor").values_list("cursor", flat=True))


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


def test_resuming_gives_the_page_after_the_cursor_as_stored(user, other_user):
    first, *rest = store_updates(user, 4)
    store_updates(other_user, 2)

    page = sync_resume(user_id=user.pk, cursor=first.cursor, limit=2)

    assert page == rest[:2]
    stored = SyncUpdate.objects.get(cursor=rest[0].cursor)
    assert (page[0].event_id, page[0].type, page[0].task, page[0].prev_cursor, page[0].user_id) == (
        stored.event_id,
        stored.type,
        stored.task,
        stored.prev_cursor,
        user.pk,
    )
    assert sync_resume(user_id=user.pk, cursor=rest[-1].cursor) == []


def test_resuming_from_a_cursor_that_was_never_the_users_position_or_is_pruned_needs_a_resync(user, other_user):
    assert sync_resume(user_id=user.pk, cursor=0) == []
    mine = store_updates(user, 2)
    theirs = store_updates(other_user, 1)
    assert sync_resume(user_id=user.pk, cursor=theirs[0].cursor) is None  # above the user's position
    SyncUpdate.objects.filter(cursor=mine[0].cursor).update(created_at=timezone.now() - timedelta(hours=25))
    prune_sync_updates_task()
    assert sync_resume(user_id=user.pk, cursor=0) is None
    assert sync_resume(user_id=user.pk, cursor=mine[0].cursor) == mine[1:]
