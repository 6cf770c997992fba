"""Domain signals of tasks_app, sent only by `tasks_app.services`, inside the write's transaction.

kafka_bridge turns each into outbox rows (task signals → `task-events` and `task-updates`,
reminder signals → `reminders`), so a rolled-back change emits nothing. Receivers get keyword
arguments only, all JSON-ready except `user_id`/`task_id` types noted below:

task_created / task_completed / task_reopened / task_deleted:
    task_id: UUID, user_id: int, task: dict (the REST representation; for deletion, the last one),
    changes: dict (empty)
task_updated:
    same, with changes: {field: {"old": <json>, "new": <json>}} for each changed field
reminder_scheduled / reminder_cancelled:
    task_id: UUID, user_id: int, reminder: dict ({"id", "task_id", "remind_at", "offset_minutes",
    "status"}, plus "fired_at" and "late"), task: dict (the task's representation)
"""

from django.dispatch import Signal

task_created = Signal()
task_updated = Signal()
task_completed = Signal()
task_reopened = Signal()
task_deleted = Signal()

reminder_scheduled = Signal()
reminder_cancelled = Signal()
