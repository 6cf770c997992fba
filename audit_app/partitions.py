"""Daily range partitions of `audit_log` (UTC days on `occurred_at`): list, create, drop.

Every DDL statement runs with a short `lock_timeout`: a partition operation that would queue
behind a long query (and make every insert queue behind it) gives up instead, and the daily job
tries again the next day.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from django.db import connection, transaction

PARENT = "audit_log"
DEFAULT_PARTITION = "audit_log_default"
LOCK_TIMEOUT = "5s"

_BOUNDS = re.compile(r"FROM \('([^']+)'\) TO \('([^']+)'\)")


@dataclass(frozen=True)
class Partition:
    name: str
    # None for the DEFAULT partition (it holds whatever no daily partition covers).
    start: datetime | None
    end: datetime | None

    @property
    def is_default(self) -> bool:
        return self.start is None


def partition_name(day: date) -> str:
    return f"{PARENT}_p{day:%Y%m%d}"


def day_start(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


def list_partitions() -> list[Partition]:
    """Every partition of the audit log, the DEFAULT one last, daily ones oldest first."""
    with connection.cursor() as cursor:
        cursor.execute("SET TIME ZONE 'UTC'")  # pg_get_expr prints bounds in the session's zone
        cursor.execute(
            """
            SELECT child.relname, pg_get_expr(child.relpartbound, child.oid)
            FROM pg_inherits
            JOIN pg_class parent ON parent.oid = pg_inherits.inhparent
            JOIN pg_class child ON child.oid = pg_inherits.inhrelid
            WHERE parent.relname = %s
            """,
            [PARENT],
        )
        rows = cursor.fetchall()
    daily, default = [], []
    for name, bound in rows:
        match = _BOUNDS.search(bound)
        if match is None:
            default.append(Partition(name, None, None))
        else:
            start, end = (datetime.fromisoformat(value).astimezone(UTC) for value in match.groups())
            daily.append(Partition(name, start, end))
    return sorted(daily, key=lambda partition: partition.start) + default


def missing_days(*, first: date, last: date) -> list[date]:
    """The days in [first, last] that have no daily partition yet."""
    covered = {p.start.date() for p in list_partitions() if not p.is_default}
    days = []
    day = first
    while day <= last:
        if day not in covered:
            days.append(day)
        day += timedelta(days=1)
    return days


def create_partition(day: date) -> int:
    """Create the partition for `day`, moving that day's rows out of the DEFAULT partition first
    (PostgreSQL refuses to create a partition whose range the DEFAULT one already holds rows of).
    Returns the number of rows moved. One transaction: nothing is lost if it fails midway."""
    start, end = day_start(day), day_start(day + timedelta(days=1))
    name = partition_name(day)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'")
        cursor.execute(
            f"""
            CREATE TEMPORARY TABLE audit_log_moving ON COMMIT DROP AS
            WITH moved AS (
                DELETE FROM {DEFAULT_PARTITION} WHERE occurred_at >= %s AND occurred_at < %s RETURNING *
            )
            SELECT * FROM moved
            """,  # noqa: S608 - table names are our constants
            [start, end],
        )
        moved = cursor.rowcount
        cursor.execute(
            f"CREATE TABLE {name} PARTITION OF {PARENT} FOR VALUES FROM (%s) TO (%s)",
            [start, end],
        )
        if moved:
            cursor.execute(f"INSERT INTO {PARENT} SELECT * FROM audit_log_moving")  # noqa: S608
        # ON COMMIT DROP alone is not enough when this runs inside an outer transaction.
        cursor.execute("DROP TABLE audit_log_moving")
    return max(moved, 0)


def drop_partition(partition: Partition) -> None:
    if partition.is_default:
        raise ValueError("the DEFAULT partition is never dropped")
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'")
        cursor.execute(f'DROP TABLE "{partition.name}"')


def count_rows(table: str, *, before: datetime | None = None) -> int:
    with connection.cursor() as cursor:
        if before is None:
            cursor.execute(f'SELECT count(*) FROM "{table}"')  # noqa: S608
        else:
            cursor.execute(f'SELECT count(*) FROM "{table}" WHERE occurred_at < %s', [before])  # noqa: S608
        return cursor.fetchone()[0]


def delete_before(table: str, *, cutoff: datetime, batch_size: int) -> int:
    """Delete rows older than `cutoff` from one partition in batches of `batch_size`, each its own
    short transaction (no long lock, and autovacuum can reclaim space as it goes)."""
    deleted = 0
    while True:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                f"""
                DELETE FROM "{table}" WHERE ctid = ANY(ARRAY(
                    SELECT ctid FROM "{table}" WHERE occurred_at < %s LIMIT %s
                ))
                """,  # noqa: S608
                [cutoff, batch_size],
            )
            batch = cursor.rowcount
        deleted += batch
        if batch < batch_size:
            return deleted
