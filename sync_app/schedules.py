"""Beat schedule of sync_app (merged by todo_project/celery.py)."""

BEAT_SCHEDULE = {
    # Hourly is enough: the window only promises *at least* SYNC_RETENTION_HOURS of history.
    "sync-prune-updates": {"task": "sync_app.prune_sync_updates", "schedule": 3600.0},
}
