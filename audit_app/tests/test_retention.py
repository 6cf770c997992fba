"""Retention: exactly what is older than the window goes, whole partitions or in batches."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import call_command
from django.db import connection

from audit_app import partitions
from audit_app.ingest import record_id
from audit_app.models import AuditLog
from audit_app.services import audit_records_store, audit_retention_enforce
from audit_app.tests.factories import make_event, make_record

pytestmark = pytest.mark.django_db

DAYS = 5
NOW = datetime.now(UTC).replace(hour=12, minute=0, second=0, microsecond=0)
CUTOFF = NOW - timedelta(days=DAYS)


def partition_of(event_id: str) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT tableoid::regclass::text FROM audit_log WHERE event_id = %s", [event_id])
        return cursor.fetchone()[0]


@pytest.fixture
def spread() -> dict[str, list[str]]:
    """Events across whole old partitions, the one straddling the cutoff, recent ones, and the
    DEFAULT partition (no daily partition for their day)."""
    for day in partitions.missing_days(first=(NOW - timedelta(days=DAYS + 3)).date(), last=NOW.date()):
        partitions.create_partition(day)
    old_times = [
        NOW - timedelta(days=DAYS + 3),
        NOW - timedelta(days=DAYS + 2, hours=5),
        NOW - timedelta(days=DAYS + 1),
        CUTOFF - timedelta(hours=3),
        CUTOFF - timedelta(minutes=1),
        CUTOFF - timedelta(milliseconds=1),
        datetime(2001, 9, 9, tzinfo=UTC),  # DEFAULT partition
    ]
    kept_times = [
        CUTOFF,
        CUTOFF + timedelta(milliseconds=1),
        CUTOFF + timedelta(hours=3),
        NOW - timedelta(days=1),
        NOW - timedelta(minutes=5),
        datetime(2999, 1, 1, tzinfo=UTC),  # DEFAULT partition
    ]
    old = [make_event(time=moment) for moment in old_times]
    kept = [make_event(time=moment) for moment in kept_times]
    audit_records_store(records=[make_record(event) for event in old + kept])
    # A record that is not an event, dated by its Kafka timestamp.
    junk_old = make_record(None, value=b"junk", timestamp=CUTOFF - timedelta(seconds=1))
    audit_records_store(records=[junk_old])
    return {"old": [e.id for e in old] + [str(record_id(junk_old))], "kept": [e.id for e in kept]}


def remaining() -> set[str]:
    return {str(event_id) for event_id in AuditLog.objects.values_list("event_id", flat=True)}


def test_retention_removes_exactly_what_is_older_than_the_window(spread: dict[str, list[str]]) -> None:
    straddling = partitions.partition_name(CUTOFF.date())
    assert partition_of(spread["kept"][0]) == straddling
    assert partition_of(spread["old"][-2]) == "audit_log_default"

    report = audit_retention_enforce(days=DAYS, now=NOW, batch_size=2)

    assert remaining() == set(spread["kept"])
    dropped = {name for name, _ in report.dropped}
    assert {
        partitions.partition_name((NOW - timedelta(days=d)).date()) for d in (DAYS + 1, DAYS + 2, DAYS + 3)
    } <= dropped
    assert dict(report.deleted)[straddling] == 4  # three events and the junk record, in batches of 2
    assert dict(report.deleted)["audit_log_default"] == 1
    names = {p.name for p in partitions.list_partitions()}
    assert not names & dropped
    assert straddling in names
    assert report.failed == []


def test_retention_creates_partitions_ahead_and_moves_rows_out_of_default() -> None:
    far_day = NOW + timedelta(days=12)
    event = make_event(time=far_day)
    audit_records_store(records=[make_record(event)])
    assert partition_of(event.id) == "audit_log_default"

    report = audit_retention_enforce(days=DAYS, now=NOW, ahead_days=12)

    assert partitions.partition_name(far_day.date()) in report.created
    assert partition_of(event.id) == partitions.partition_name(far_day.date())
    assert audit_retention_enforce(days=DAYS, now=NOW, ahead_days=12).created == []


def test_dry_run_changes_nothing_and_reports_what_would_go(spread: dict[str, list[str]]) -> None:
    before_partitions = partitions.list_partitions()

    report = audit_retention_enforce(days=DAYS, now=NOW, dry_run=True)

    assert remaining() == set(spread["old"]) | set(spread["kept"])
    assert partitions.list_partitions() == before_partitions
    assert sum(rows for _, rows in report.dropped) + sum(rows for _, rows in report.deleted) == len(spread["old"])


def test_purge_audit_command_dry_run_prints_and_then_purges(spread: dict[str, list[str]]) -> None:
    # The command uses the real clock: keep only what is younger than DAYS days from now.
    out = io.StringIO()
    call_command("purge_audit", "--days", str(DAYS), "--dry-run", stdout=out)
    text = out.getvalue()
    assert "(dry run)" in text
    assert "would drop partition" in text
    assert "would delete" in text
    assert remaining() == set(spread["old"]) | set(spread["kept"])

    expected = {
        str(e)
        for e in AuditLog.objects.filter(occurred_at__gte=datetime.now(UTC) - timedelta(days=DAYS)).values_list(
            "event_id", flat=True
        )
    }
    call_command("purge_audit", "--days", str(DAYS), stdout=io.StringIO())

    assert remaining() == expected
    assert len(expected) >= 3  # the last day's events and the far-future one at least


def test_purge_audit_rejects_a_window_under_one_day() -> None:
    from django.core.management import CommandError

    with pytest.raises(CommandError, match="at least 1"):
        call_command("purge_audit", "--days", "0", stdout=io.StringIO())
