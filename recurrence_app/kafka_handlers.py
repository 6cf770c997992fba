"""The `recurrence` consumer: its definition (topic `task-events`) and its handler."""

from __future__ import annotations

import logging
import uuid

from core.domain_events import Topic
from core.errors import ApplicationError
from kafka_bridge.envelope import CloudEvent
from kafka_bridge.errors import PermanentError
from kafka_bridge.registry import ConsumerDefinition, event_handler, register_consumer
from recurrence_app.services import series_generate_next
from tasks_app.models import Task

logger = logging.getLogger(__name__)

CONSUMER = register_consumer(
    ConsumerDefinition(name="recurrence", group_id="recurrence", topics=(Topic.TASK_EVENTS.value,))
)


@event_handler("recurrence", "task.completed")
def handle_task_completed(event: CloudEvent) -> None:
    """Create the next occurrence of a completed recurring task (`series_generate_next`).

    Reads the task from the database, not from the event: a task deleted or reopened since is
    skipped, as is one that does not recur. Runs in the runner's transaction; a redelivered event
    is skipped by the runner, and any other repeat (a reopen and complete again, the catch-up
    job, a second consumer) creates nothing because the task already has its successor.
    """
    task_id = event.subject or (event.data.get("task") or {}).get("id")
    try:
        task_id = uuid.UUID(str(task_id))
    except ValueError as exc:
        raise PermanentError(f"task.completed subject {event.subject!r} is not a task id") from exc
    task = Task.objects.filter(pk=task_id).first()
    if task is None or task.series_id is None:
        return
    try:
        created = series_generate_next(completed_task=task)
    except ApplicationError as exc:  # the tasks services refused the copy: retrying cannot help
        raise PermanentError(f"next occurrence of task {task.id} rejected: {exc.message} {exc.fields or ''}") from exc
    if created is not None:
        logger.info("recurrence: created the next occurrence %s after task %s", created.id, task.id)
