"""Celery tasks of tasks_app (thin: the services do the work)."""

from __future__ import annotations

from celery import shared_task

from tasks_app.idempotency import prune_expired
from tasks_app.reminders import reminders_dispatch_due


@shared_task(ignore_result=True)
def prune_idempotency_keys_task() -> int:
    """Hourly: delete Idempotency-Key records older than their 24 h; returns how many."""
    return prune_expired()


@shared_task(ignore_result=True)
def dispatch_reminders_task() -> int:
    """One dispatch pass (Celery beat, every REMINDER_DISPATCH_INTERVAL_SECONDS)."""
    fired = total = reminders_dispatch_due()
    # A backlog (after downtime) drains in this job rather than one batch per beat tick.
    while fired:
        fired = reminders_dispatch_due()
        total += fired
    return total
