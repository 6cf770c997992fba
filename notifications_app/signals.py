"""Domain signals of notifications_app, sent only by its services inside their transaction.

Each becomes one event (routes and payload models: `notifications_app.events`). Every signal is
sent with `task_id` and `user_id`, plus the keyword arguments its route's data builder takes.
"""

from django.dispatch import Signal

reminder_sent = Signal()
reminder_failed = Signal()
