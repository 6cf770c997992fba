"""The admin's search reads the index of each column it matches, never the time index with a
filter: "newest first, LIMIT 50" over an OR of columns walks the whole log when nothing matches
(bench scenario 9 measured 1.4 s at a million rows). Checked on the real plans PostgreSQL makes,
with sequential and bitmap scans off as in test_query_plans.py (at test size they are cheaper),
on statistics the test sets itself, as there.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from audit_app.models import AuditLog
from audit_app.selectors import NEWEST_FIRST, audit_log_search
from audit_app.tests.factories import analyse_production_like_rows, make_event, store_events
from tasks_app.models import Task

pytestmark = pytest.mark.django_db

TIME_INDEX = re.compile(r"using audit_log_(p\d{8}|default)_occurred_at_id_idx")
# Partition indexes are named after their columns: audit_log_p20261128_user_id_occurred_at_id_idx,
# audit_log_default_event_id_topic_occurred_at_key (the deduplication key).
COLUMN_INDEX = re.compile(r"using audit_log_(?:p\d{8}|default)_(\w+?)_occurred_at_(?:id_idx|key)")


def plan(queryset: Any) -> str:
    sql, params = queryset[:51].query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_bitmapscan = off")
        cursor.execute(f"EXPLAIN {sql}", params)
        return "\n".join(row[0] for row in cursor.fetchall())


@pytest.fixture
def party(make_user: Any) -> Task:
    alice = make_user("alice", "alice@example.com")
    task = Task.objects.create(owner=alice, title="Alice's party")
    # "alice" is also a correlation id here, so that her name matches three columns at once.
    store_events(make_event(user_id=alice.pk, task_id=task.id), make_event(user_id=8, correlation_id="alice"))
    analyse_production_like_rows()
    return task


@pytest.mark.parametrize(
    ("term", "indexes"),
    [
        ("alice", {"correlation_id", "user_id", "task_id"}),  # a UNION ALL of three index reads
        ("alice@example.com", {"user_id"}),  # one column: the index, in order, nothing to sort
        ("TASK", {"task_id"}),
    ],
)
def test_each_search_condition_reads_its_own_index(party: Task, term: str, indexes: set[str]) -> None:
    newest_first = AuditLog.objects.order_by(*NEWEST_FIRST)  # the admin's order

    text = plan(audit_log_search(newest_first, term=str(party.id) if term == "TASK" else term))

    assert not TIME_INDEX.search(text), text
    assert set(COLUMN_INDEX.findall(text)) == indexes, text
    if len(indexes) == 1:  # read in order: only one instant's entries are sorted (by sequence)
        sorts = [line.strip().split("  (")[0] for line in text.splitlines() if "Sort" in line and "Key" not in line]
        assert set(sorts) <= {"->  Incremental Sort", "Incremental Sort"}, text


def test_a_term_that_matches_nothing_lists_nothing_without_reading_the_log(party: Task) -> None:
    with CaptureQueriesContext(connection) as queries:
        found = audit_log_search(AuditLog.objects.order_by(*NEWEST_FIRST), term="nobody@example.com")

        assert list(found) == []
    statements = [query["sql"] for query in queries]
    # The user lookup, the title search, and one probe per value: as a correlation or a user id.
    assert len(statements) == 4, statements
    assert [sql for sql in statements if "audit_log" in sql and "LIMIT 1" not in sql] == [], statements
