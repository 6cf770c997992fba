"""9. Audit review in the admin over N audit rows (full: a million): the changelist, its date
filters and its searches, as a staff member gets them.

N rows are generated in PostgreSQL with `INSERT ... SELECT generate_series` over the last 30 days
(one daily partition each, created as the retention job does), 1,000 users (one of them busy,
with a tenth of all entries) and 20,000 tasks,
three entries per request (correlation id), ~600-byte envelopes; then ANALYZE. Each page is
fetched in this process through Django's test client as a logged-in superuser (the real admin
view, middleware and templates, no HTTP server): one warm-up, then the median of 7.

Baseline: the admin's index page for the same user, fetched the same way: what any admin page
costs before it reads the audit log. The JSON adds, per page, its query count and the
PostgreSQL execution time and partitions read of its slowest statement (EXPLAIN ANALYZE).
"""

from __future__ import annotations

import hashlib
import statistics
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from audit_app.partitions import create_partition, missing_days
from bench.config import Config
from bench.harness import Harness
from bench.scenarios.common import make_users
from bench.stats import Figure, Report
from tasks_app.models import Task

SCENARIO = "9 audit admin"
USERS = 1_000
TASKS = 20_000
DAYS = 30
REPEATS = 7
CHANGELIST = "/admin/audit_app/auditlog/"
TITLE_WORDS = ("Water the plants", "Call the bank", "Prepare the report", "Book a table", "Pay the rent")

# Rows i = 0..N-1: every tenth the busy user's, the others spread over the rest; task i % TASKS,
# request i / 3; newest first over DAYS days.
GENERATE = """
INSERT INTO audit_log (event_id, topic, kafka_partition, kafka_offset, event_type, user_id, task_id,
                       correlation_id, occurred_at, received_at, envelope)
SELECT event_id, topic, i %% 3, i, event_type, user_id, task_id, correlation_id, occurred_at, occurred_at,
       jsonb_build_object(
           'specversion', '1.0', 'id', event_id, 'type', event_type, 'source', '/tasks',
           'subject', task_id, 'time', occurred_at, 'datacontenttype', 'application/json',
           'userid', user_id, 'correlationid', correlation_id,
           'data', jsonb_build_object(
               'task', jsonb_build_object('id', task_id, 'title', 'Task ' || (i %% %(tasks)s),
                                          'description', repeat('Collect the figures. ', 12),
                                          'status', 'open', 'priority', 'medium', 'tags', '[]'::jsonb),
               'changes', '{}'::jsonb))
FROM (
    SELECT i,
           gen_random_uuid() AS event_id,
           (ARRAY['task-events', 'task-updates', 'reminders'])[i %% 3 + 1] AS topic,
           (ARRAY['task.created', 'task.updated', 'task.completed', 'reminder.scheduled'])[i %% 4 + 1] AS event_type,
           (CASE WHEN i %% 10 = 0 THEN %(first_user)s ELSE %(first_user)s + 1 + i %% (%(users)s - 1) END)::text
               AS user_id,
           md5('bench-task-' || (i %% %(tasks)s))::uuid AS task_id,
           'req-' || (i / 3) AS correlation_id,
           %(now)s - (i::bigint * %(span)s / %(rows)s) * interval '1 second' AS occurred_at
    FROM generate_series(0, %(rows)s - 1) AS i
) AS row
"""


def _task_id(n: int) -> uuid.UUID:
    """The id GENERATE gives task n: md5("bench-task-<n>") as a UUID."""
    return uuid.UUID(hashlib.md5(f"bench-task-{n}".encode()).hexdigest())  # noqa: S324 - an id, not a secret


def _generate(rows: int, now: datetime) -> tuple[list[Any], float]:
    users = make_users("audit-admin", USERS)
    owners = {user.pk: user for user in users}
    first = users[0].pk
    assert [user.pk for user in users] == list(range(first, first + USERS)), "user ids are not consecutive"
    Task.objects.bulk_create(
        [
            Task(id=_task_id(n), owner=owners[first + n % USERS], title=f"{TITLE_WORDS[n % len(TITLE_WORDS)]} {n}")
            for n in range(TASKS)
        ],
        batch_size=2000,
    )
    today = now.date()
    for day in missing_days(first=today - timedelta(days=DAYS), last=today):
        create_partition(day)
    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE audit_log")
        cursor.execute(
            GENERATE,
            {"rows": rows, "users": USERS, "tasks": TASKS, "first_user": first, "now": now, "span": DAYS * 86400},
        )
        cursor.execute("ANALYZE audit_log")
    return users, time.perf_counter() - started


def _page_plan(queries: list[dict[str, str]]) -> dict[str, Any]:
    """What PostgreSQL did for the page's rows (the ordered SELECT on the audit log, not the
    paginator's EXPLAIN or count): execution time, partitions it read rows from, rows read."""
    pages = [
        q["sql"]
        for q in queries
        if q["sql"].lstrip("(").startswith("SELECT") and 'FROM "audit_log"' in q["sql"] and "ORDER BY" in q["sql"]
    ]
    if not pages:  # a search that matched nothing reads no page
        return {"execution_ms": 0.0, "partitions_read": 0, "rows_read": 0}
    page = pages[0]
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (ANALYZE, FORMAT JSON) {page}")
        plan = cursor.fetchone()[0]
    read: dict[str, int] = {}

    def walk(node: dict[str, Any]) -> None:
        if node.get("Relation Name", "").startswith("audit_log") and node.get("Actual Rows", 0) > 0:
            read[node["Relation Name"]] = (
                read.get(node["Relation Name"], 0) + node["Actual Rows"] * node["Actual Loops"]
            )
        for child in node.get("Plans", []):
            walk(child)

    walk(plan[0]["Plan"])
    return {"execution_ms": plan[0]["Execution Time"], "partitions_read": len(read), "rows_read": sum(read.values())}


def _time(client: Client, url: str) -> dict[str, Any]:
    response = client.get(url)  # warm-up: the planner's caches, the templates
    if response.status_code != 200:
        raise RuntimeError(f"{url}: {response.status_code}")
    samples = []
    for _ in range(REPEATS):
        with CaptureQueriesContext(connection) as queries:
            started = time.perf_counter()
            response = client.get(url)
            samples.append((time.perf_counter() - started) * 1000)
    # The first column of every listed entry (no test environment here, so no response.context).
    listed = response.content.count(b'<th class="field-occurred_at')
    return {
        "url": url,
        "p50_ms": statistics.median(samples),
        "max_ms": max(samples),
        "queries": len(queries),
        "entries_on_page": listed,
        **_page_plan(list(queries)),
    }


def run(harness: Harness, config: Config, report: Report) -> None:
    rows = config.audit_admin_rows
    now = datetime.now(UTC).replace(microsecond=0)
    users, generate_seconds = _generate(rows, now)
    staff = make_users("audit-admin-staff", 1)[0]
    staff.is_staff = staff.is_superuser = True
    staff.save(update_fields=["is_staff", "is_superuser"])
    client = Client()
    client.force_login(staff)

    busy, typical = users[0], users[8]  # a tenth of the rows; ~rows / 1,110 of them
    yesterday = (now - timedelta(days=1)).date()
    week = (now - timedelta(days=7)).date()
    pages = {
        "list, first page": CHANGELIST,
        "list, one day (from/to)": f"{CHANGELIST}?occurred_at__from={yesterday}&occurred_at__to={yesterday}",
        "list, 7 days and a type": f"{CHANGELIST}?occurred_at__from={week}&event_type=task.completed",
        "search by e-mail": f"{CHANGELIST}?q={typical.email}",
        "search by e-mail, one day": f"{CHANGELIST}?q={typical.email}&occurred_at__from={yesterday}"
        f"&occurred_at__to={yesterday}",
        "search by e-mail of the busy user": f"{CHANGELIST}?q={busy.email}",
        "search by an unknown e-mail": f"{CHANGELIST}?q=nobody@example.com",
        "search by username": f"{CHANGELIST}?q={typical.username}",
        "search by correlation id": f"{CHANGELIST}?q=req-{rows // 2 // 3}",
        "search by task title": f"{CHANGELIST}?q=plants+1235",  # "Water the plants 1235", 12350, 12355
        "search by task id": f"{CHANGELIST}?q={_task_id(1234)}",
        "correlation id link": f"{CHANGELIST}?correlation_id=req-{rows // 2 // 3}",
    }
    baseline = _time_index(client)
    measured = {name: _time(client, url) for name, url in pages.items()}
    for name, result in measured.items():
        target = ("ours<=", 500) if name.startswith("list") else ("ours<=", 1000)
        report.add(Figure(SCENARIO, name, "ms", result["p50_ms"], baseline, "admin index page", target))
    report.scenarios[SCENARIO] = {
        "rows": rows,
        "users": USERS,
        "tasks": TASKS,
        "days": DAYS,
        "generate_seconds": round(generate_seconds, 1),
        "admin_index_p50_ms": baseline,
        "pages": measured,
    }


def _time_index(client: Client) -> float:
    client.get("/admin/")
    samples = []
    for _ in range(REPEATS):
        started = time.perf_counter()
        client.get("/admin/")
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)
