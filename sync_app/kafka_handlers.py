"""The `sync` consumer group: task updates from `task-updates` to the owners' browsers."""

from __future__ import annotations

from kafka_bridge.envelope import CloudEvent
from kafka_bridge.errors import PermanentError
from kafka_bridge.registry import event_handler
from sync_app.protocol import UPDATE_TYPES
from sync_app.services import sync_update_record


@event_handler("sync", *UPDATE_TYPES)
def handle_task_update(event: CloudEvent) -> None:
    """Store the update (idempotent on the event id) and, on commit, send it to the group of
    the task's owner (the envelope's `userid`, the owner's user id)."""
    task = event.data.get("task")
    if not isinstance(task, dict) or not task.get("id"):
        raise PermanentError("data.task must be the task's representation")
    if not event.userid.isdigit():
        raise PermanentError(f"userid must be a user id, not {event.userid!r}")
    sync_update_record(event_id=event.id, event_type=event.type, user_id=int(event.userid), task=task)
