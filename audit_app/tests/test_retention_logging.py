"""Retention runs at production's log level through production's formatter.

The suite logs at WARNING, where the retention summary (INFO) is never built: these tests log at
INFO through core/logging.py, as LOG_LEVEL's default does, so a summary that cannot be logged
fails here and not in the daily job.
"""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from django.core.management import call_command
from django.test import override_settings

from audit_app.tasks import enforce_audit_retention_task
from core.logging import CorrelationIdFilter, JsonFormatter, RedactSecretsFilter

pytestmark = pytest.mark.django_db


@pytest.fixture
def info_json_log() -> Iterator[io.StringIO]:
    """The root logger at INFO with production's formatter and filters, writing to a stream."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(CorrelationIdFilter())
    handler.addFilter(RedactSecretsFilter())
    root = logging.getLogger()
    previous = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        yield stream
    finally:
        root.removeHandler(handler)
        root.setLevel(previous)


def retention_lines(stream: io.StringIO) -> list[dict[str, Any]]:
    """Every line is one JSON object; the retention summaries among them."""
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    return [line for line in lines if line["message"] == "audit retention"]


def test_purge_audit_dry_run_logs_its_summary_at_info(info_json_log: io.StringIO) -> None:
    out = io.StringIO()

    call_command("purge_audit", "--dry-run", "--days", "5", stdout=out)

    assert "(dry run)" in out.getvalue()
    [summary] = retention_lines(info_json_log)
    assert summary["level"] == "INFO"
    assert summary["logger"] == "audit_app.services"
    assert summary["dry_run"] is True
    assert {"cutoff", "created_partitions", "dropped", "deleted", "failed"} <= set(summary)


@override_settings(AUDIT_RETENTION_DAYS=5)
def test_the_daily_retention_job_logs_its_summary_at_info(info_json_log: io.StringIO) -> None:
    result = enforce_audit_retention_task()

    assert result["failed"] == []
    [summary] = retention_lines(info_json_log)
    assert summary["dry_run"] is False
    assert summary["created_partitions"] == result["created"]
