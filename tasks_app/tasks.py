"""Celery tasks of tasks_app."""

from __future__ import annotations

from celery import shared_task

from tasks_app.idempotency import prune_expired


@shared_task(ignore_result=True)
def prune_idempotency_keys_task() -> int:
    """Hourly: delete Idempotency-Key records older than their 24 h; returns how many."""
    return prune_expired()
