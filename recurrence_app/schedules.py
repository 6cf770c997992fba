"""Beat entries of recurrence_app (merged into the beat schedule by todo_project/celery.py).

The catch-up is a safety net for the `task.completed` handler, which normally creates the next
occurrence within a second; every five minutes is plenty, and a tick that waited in the queue
longer than that is only an empty pass.
"""

from __future__ import annotations

BEAT_SCHEDULE = {
    "recurrence-catch-up": {
        "task": "recurrence_app.tasks.recurrence_catch_up_task",
        "schedule": 300.0,
        "options": {"expires": 240},
    },
}
