"""1. Outbox relay throughput: N outbox rows committed at once, drained by the running
`relay_outbox --loop` (woken by the commit's NOTIFY), from commit to the last row marked
published (its pending row deleted). Baseline: the same records produced by a raw
confluent-kafka producer with the relay's producer settings (idempotent, acks=all, linger 1 ms)
to the same broker, until every delivery report is in."""

from __future__ import annotations

import time

from django.db import connection, transaction

from bench.config import Config
from bench.events import task_updated
from bench.harness import Harness, wait_until
from bench.kafka import produce_all
from bench.scenarios.common import wait_outbox_drained
from bench.stats import Figure, Report
from kafka_bridge.models import OutboxEvent, OutboxPending
from kafka_bridge.receivers import outbox_rows
from kafka_bridge.relay import claim, mark

SCENARIO = "1 outbox relay"
TOPICS = ("task-events", "task-updates")


def run(harness: Harness, config: Config, report: Report) -> None:
    n = config.relay_rows
    # The baseline's clock starts with its producer connected and holding the topics' metadata,
    # as a long-running relay's is: warm the relay's producer (and its marker) the same way.
    warm_up = [row for event in (task_updated(user_id=1, title="warm-up"),) for row in outbox_rows(event, TOPICS)]
    OutboxEvent.objects.bulk_create(warm_up)
    wait_outbox_drained(30)
    events = [task_updated(user_id=1 + i % 50, title=f"relay row {i}") for i in range(n // len(TOPICS))]
    rows = [row for event in events for row in outbox_rows(event, TOPICS)]
    with transaction.atomic():
        OutboxEvent.objects.bulk_create(rows, batch_size=5000)  # its trigger wakes the relay
        ids = [row.id for row in rows]
    committed = time.time()
    ours_pending = OutboxPending.objects.filter(pk__gte=min(ids), pk__lte=max(ids))
    # Marking deletes a narrow pending row and keeps no time: the drain ends at the first poll
    # that finds none of ours pending. Polled every 5 ms (a statement on the narrow table's
    # primary key by range; a check by `id__in=<all ids>` once took a core from the relay).
    wait_until(lambda: not ours_pending.exists(), 30 + n / 500, f"the relay to publish {len(rows)} rows", 0.005)
    seconds = time.time() - committed
    ours = len(rows) / seconds

    # Fresh events of the same shape (new ids: the audit log would take repeats for redeliveries).
    fresh = [task_updated(user_id=1 + i % 50, title=f"relay row {i}") for i in range(len(events))]
    records = [
        (row.topic, row.key.encode(), event.to_json(), [(k, str(v).encode()) for k, v in row.headers.items()])
        for event in fresh
        for row in outbox_rows(event, TOPICS)
    ]
    delivered, seconds_raw = produce_all(records)
    baseline = delivered / seconds_raw
    floor = _database_work_alone(rows)
    report.add(
        Figure(SCENARIO, "relay throughput", "rows/s", ours, baseline, "raw producer", ("ratio>=", 0.5)),
        Figure(
            SCENARIO,
            "its PostgreSQL work alone vs raw producer",
            "rows/s",
            floor,
            baseline,
            "raw producer",
            note="the relay's claim and mark statements on a copy of the rows, no Kafka",
        ),
    )
    report.scenarios[SCENARIO] = {
        "rows": len(rows),
        "relay_seconds": seconds,
        "baseline_delivered": delivered,
        "database_work_alone_rows_per_s": floor,
    }


def _database_work_alone(rows: list[OutboxEvent]) -> float:
    """Rows/s of the relay's own statements (claim every batch in id order, mark each claimed
    batch published) on one connection, on temporary copies of the outbox and pending tables
    with the same indexes and the same rows: what PostgreSQL allows before Kafka does anything."""
    tables = {'"kafka_bridge_outboxevent"': "bench_outbox", '"kafka_bridge_outboxpending"': "bench_pending"}
    claim_sql, mark_sql = claim.CLAIM_SQL, mark.MARK_SQL
    for table, copy in tables.items():
        claim_sql, mark_sql = claim_sql.replace(table, copy), mark_sql.replace(table, copy)
    ids = [r.id for r in rows]
    with transaction.atomic(), connection.cursor() as cursor:
        for table, copy in tables.items():
            cursor.execute(f"CREATE TEMPORARY TABLE {copy} (LIKE {table} INCLUDING ALL) ON COMMIT DROP")
        cursor.execute("INSERT INTO bench_outbox SELECT * FROM kafka_bridge_outboxevent WHERE id = ANY(%s)", [ids])
        cursor.execute("INSERT INTO bench_pending SELECT unnest(%s::bigint[])", [ids])
        cursor.execute("ANALYZE bench_outbox, bench_pending")  # a temporary table has no statistics otherwise
        started = time.perf_counter()
        after, done = 0, 0
        while True:
            cursor.execute(claim_sql, [after, claim.DEFAULT_BATCH_SIZE])
            batch = cursor.fetchall()
            if not batch:
                break
            cursor.execute(mark_sql, [mark.id_array([row[0] for row in batch])])  # as the relay sends it
            after, done = batch[-1][0], done + len(batch)
        return done / (time.perf_counter() - started)
