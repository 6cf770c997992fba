"""Every API filter has an index that serves it together with the newest-first order and the
keyset cursor, on every partition, with no full sort: checked on the real plans PostgreSQL makes.
The index gives the order of occurred_at; only the entries of one instant are sorted by
sequence (an incremental sort, whose groups are the few events of one millisecond).

Sequential scans are disabled for the check: on a test-sized table they are cheaper, at 10
million rows they are not; what matters here is that a sort-free index path exists.

The planner picks among those paths by each partition's statistics, so every check plans on
statistics the test sets itself (`analyse_production_like_rows`): whatever rows other tests
committed, and whenever autovacuum analysed them, would otherwise decide it (a partition analysed
with two users in it makes any other user look rarer than any task).
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.db import connection

from audit_app.selectors import AuditFilters, audit_log_before, audit_log_list
from audit_app.tests.factories import analyse_production_like_rows

pytestmark = pytest.mark.django_db


class Staff:
    is_staff = True
    pk = 1


class Member:
    is_staff = False
    pk = 42


@pytest.fixture(autouse=True)
def _statistics() -> None:
    analyse_production_like_rows()


def plan(queryset: Any) -> str:
    sql, params = queryset[:51].query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_bitmapscan = off")
        cursor.execute(f"EXPLAIN {sql}", params)
        return "\n".join(row[0] for row in cursor.fetchall())


@pytest.mark.parametrize(
    ("actor", "filters", "columns"),
    [
        (Staff(), AuditFilters(), ""),
        (Member(), AuditFilters(), "user_id_"),
        (Staff(), AuditFilters(user="7"), "user_id_"),
        (Staff(), AuditFilters(actions=("task.completed",)), "event_type_"),
        (Staff(), AuditFilters(topics=("reminders.dlq",)), "topic_"),
        (Staff(), AuditFilters(task=uuid.uuid4()), "task_id_"),
        (Staff(), AuditFilters(correlation_id="req-1"), "correlation_id_"),
        (Member(), AuditFilters(task=uuid.uuid4()), "task_id_"),
    ],
)
def test_each_filter_is_an_ordered_index_scan(actor: Any, filters: AuditFilters, columns: str) -> None:
    # Partition indexes are named after their columns: audit_log_p20261128_user_id_occurred_at_id_idx.
    expected = re.compile(rf"Index Scan Backward using audit_log_(p\d{{8}}|default)_{columns}occurred_at_id_idx ")
    queryset = audit_log_list(actor=actor, filters=filters)
    now = datetime.now(UTC)

    for query in (queryset, audit_log_before(queryset, occurred_at=now, sequence=10**9, id=10**9)):
        text = plan(query)
        scans = [line for line in text.splitlines() if "Scan" in line]
        assert scans, text
        assert all(expected.search(line) for line in scans), text
        sorts = [line.strip() for line in text.splitlines() if "Sort" in line and "Sort Key" not in line]
        assert [sort.split("  (")[0] for sort in sorts] == ["->  Incremental Sort"], text
        assert "Presorted Key: audit_log.occurred_at\n" in text + "\n", text
        assert "Seq Scan" not in text, text


def test_a_time_range_reads_only_the_partitions_it_covers() -> None:
    now = datetime.now(UTC)
    queryset = audit_log_list(actor=Staff(), filters=AuditFilters(since=now - timedelta(hours=1), until=now))

    text = plan(queryset)

    partitions = {line.split(" on ")[1].split()[0] for line in text.splitlines() if " on audit_log_" in line}
    assert len(partitions) <= 3, text  # today's (and yesterday's at midnight) plus DEFAULT
