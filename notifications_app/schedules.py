"""Beat entries of notifications_app (merged into the beat schedule by todo_project/celery.py)."""

from __future__ import annotations

BEAT_SCHEDULE = {
    "notifications-requeue-stale": {
        "task": "notifications_app.tasks.requeue_stale_notifications_task",
        "schedule": 60.0,
    },
}
