"""2. Audit ingest: records on Kafka to durable `audit_log` rows per second, by the real
`run_consumer audit` (one process). It runs last and stores every record of every topic (this
run's earlier scenarios' records plus N fresh `task.updated` events); the rate is measured between
its first and last committed batch (`received_at` is each batch transaction's start).

Baselines, on the same rows (read back, table emptied between runs), in batches of the
consumer's poll size (500) with a commit per batch: raw psycopg `executemany` INSERT, and COPY
(shown as the limit of the table). Each is the better of two rounds: a single round varied by
±50 % between runs (a checkpoint or other work on the machine), which made the ratio noise."""

from __future__ import annotations

import time

import psycopg
from django.db import connection
from psycopg.types.json import Jsonb

from audit_app.ingest import COLUMNS
from bench.config import Config
from bench.events import record_headers, task_updated
from bench.harness import Harness
from bench.kafka import high_watermarks, produce_all, wait_caught_up
from bench.stats import Figure, Report
from kafka_bridge.topics import all_topic_names

SCENARIO = "2 audit ingest"
BATCH = 500


def _dsn() -> str:
    db = connection.settings_dict
    dsn = f"host={db['HOST'] or 'localhost'} port={db['PORT'] or 5432} dbname={db['NAME']}"
    return dsn + (f" user={db['USER']}" if db.get("USER") else "")


def _timed_batches(rows: list[tuple], write) -> float:
    with psycopg.connect(_dsn()) as db:
        db.execute("TRUNCATE audit_log")
        db.commit()
        started = time.perf_counter()
        for i in range(0, len(rows), BATCH):
            with db.cursor() as cursor:
                write(cursor, rows[i : i + BATCH])
            db.commit()
        return len(rows) / (time.perf_counter() - started)


def run(harness: Harness, config: Config, report: Report) -> None:
    n = config.audit_records
    records = []
    for i in range(n):
        event = task_updated(user_id=1 + i % 50, title=f"audited {i}")
        records.append(("task-events", event.subject.encode(), event.to_json(), record_headers(event)))
    produce_all(records)
    on_kafka = high_watermarks(all_topic_names())

    consumer = harness.consumer("audit", wait=False)
    # Done when the group has committed everything: offsets are committed after each batch is durable.
    wait_caught_up("audit", all_topic_names(), timeout=60 + on_kafka / 1000)
    harness.stop(consumer)
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM audit_log")
        total = cursor.fetchone()[0]
        cursor.execute("SELECT min(received_at), max(received_at) FROM audit_log")
        first, last = cursor.fetchone()
        cursor.execute("SELECT count(*) FROM audit_log WHERE received_at = %s", [last])
        last_batch = cursor.fetchone()[0]
        cursor.execute(f"SELECT {', '.join(COLUMNS)} FROM audit_log ORDER BY id")  # noqa: S608
        rows = cursor.fetchall()
    seconds = (last - first).total_seconds()
    ours = (total - last_batch) / seconds if seconds > 0 else float("nan")

    json_columns = {i for i, name in enumerate(COLUMNS) if name in ("envelope", "headers")}
    rows = [tuple(Jsonb(v) if i in json_columns and v is not None else v for i, v in enumerate(row)) for row in rows]
    columns = ", ".join(COLUMNS)
    insert = f"INSERT INTO audit_log ({columns}) VALUES ({', '.join(['%s'] * len(COLUMNS))})"  # noqa: S608
    executemany = max(_timed_batches(rows, lambda cursor, batch: cursor.executemany(insert, batch)) for _ in range(2))

    def copy(cursor, batch) -> None:
        with cursor.copy(f"COPY audit_log ({columns}) FROM STDIN") as stream:
            for row in batch:
                stream.write_row(row)

    copied = max(_timed_batches(rows, copy) for _ in range(2))
    report.add(
        Figure(SCENARIO, "audit ingest", "rows/s", ours, executemany, "executemany", ("ratio>=", 0.5)),
        Figure(SCENARIO, "audit ingest vs COPY (limit)", "rows/s", ours, copied, "COPY"),
    )
    report.scenarios[SCENARIO] = {
        "rows": total,
        "records_on_kafka": on_kafka,
        "fresh_records": n,
        "consumer_seconds": seconds,
    }
