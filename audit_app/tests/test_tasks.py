"""The daily retention job: scheduled in beat, applies AUDIT_RETENTION_DAYS."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.test import override_settings

from audit_app import partitions
from audit_app.models import AuditLog
from audit_app.tasks import enforce_audit_retention_task
from audit_app.tests.factories import make_event, store_events
from todo_project.celery import app


def test_retention_job_is_in_the_beat_schedule_daily() -> None:
    app.loader.import_default_modules()
    app.finalize()
    entry = app.conf.beat_schedule["audit-retention"]

    assert entry["task"] == enforce_audit_retention_task.name
    assert entry["schedule"].hour == {3}


@pytest.mark.django_db
@override_settings(AUDIT_RETENTION_DAYS=5)
def test_retention_job_applies_the_configured_window() -> None:
    now = datetime.now(UTC)
    for day in partitions.missing_days(first=(now - timedelta(days=10)).date(), last=now.date()):
        partitions.create_partition(day)
    old, young = make_event(time=now - timedelta(days=5, minutes=1)), make_event(time=now - timedelta(days=4))
    store_events(old, young)

    result = enforce_audit_retention_task()

    assert [str(e) for e in AuditLog.objects.values_list("event_id", flat=True)] == [young.id]
    assert result["failed"] == []
