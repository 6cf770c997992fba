"""Domain signals of tasks_app, sent only by its services, inside the write's transaction.

Each becomes one event (routes and payload models: `tasks_app.events`), written to the outbox in
that same transaction, so a rolled-back change emits nothing. Every signal is sent with
`task_id` and `user_id`, plus the keyword arguments its route's data builder takes.
"""

from django.dispatch import Signal

task_created = Signal()
task_updated = Signal()
task_completed = Signal()
task_reopened = Signal()
task_deleted = Signal()

reminder_scheduled = Signal()
reminder_cancelled = Signal()
reminder_due = Signal()
