"""Beat entries of tasks_app (merged into the Celery beat schedule by todo_project/celery.py)."""

from __future__ import annotations

from celery.schedules import crontab

BEAT_SCHEDULE = {
    # Expired keys are already ignored by the API; pruning only keeps the table small.
    "tasks-prune-idempotency-keys": {
        "task": "tasks_app.tasks.prune_idempotency_keys_task",
        "schedule": crontab(minute=23),
        "options": {"expires": 3600},
    },
}
