"""6. Reminder fire lag: N reminders due within one window (a minute in the full run), fired by
tasks_app's dispatcher (`manage.py dispatch_reminders --loop`, default interval and
batch), with the outbox relay publishing the `reminder.due` events.

Fire lag = `fired_at - remind_at` (what the app's `reminder_fire_lag_seconds` metric observes);
also measured: the time until the `reminder.due` record is readable on Kafka. Baseline: the
floor of any polling dispatcher with the same interval and batch size: a raw psycopg loop, running
at the same time over a copy of the same due times in a table of its own, that claims due rows
with `FOR UPDATE SKIP LOCKED` and marks them fired, nothing else."""

from __future__ import annotations

import json
import threading
import time
from datetime import datetime, timedelta

import psycopg
from confluent_kafka import OFFSET_END, TopicPartition
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from bench.config import Config
from bench.harness import Harness, wait_until
from bench.kafka import runner_like_consumer
from bench.scenarios.common import make_users
from bench.stats import Figure, Report, percentile
from tasks_app.models import Reminder, ReminderStatus, Task

SCENARIO = "6 reminders"
BASELINE_TABLE = "bench_reminder"


def _baseline_loop(dsn: str, interval: float, limit: int, stop: threading.Event) -> None:
    with psycopg.connect(dsn, autocommit=False) as db:
        while not stop.is_set():
            with db.transaction():
                fired = db.execute(
                    f"""UPDATE {BASELINE_TABLE} SET status = 'fired', fired_at = now()
                        WHERE id IN (SELECT id FROM {BASELINE_TABLE}
                                     WHERE status = 'scheduled' AND remind_at <= now()
                                     ORDER BY remind_at LIMIT %s FOR UPDATE SKIP LOCKED)""",  # noqa: S608
                    [limit],
                ).rowcount
            db.commit()
            if fired >= limit:
                continue
            stop.wait(interval)


def _watch_kafka(expected: int, deadline: float, lags: list[float]) -> None:
    consumer = runner_like_consumer("bench-reminders-watch")
    topic = "reminders"
    partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
    consumer.assign([TopicPartition(topic, p, OFFSET_END) for p in partitions])
    while len(lags) < expected and time.time() < deadline:
        message = consumer.poll(0.2)
        if message is None or message.error():
            continue
        arrived = time.time()
        event = json.loads(message.value())
        if event.get("type") != "reminder.due":
            continue
        remind_at = datetime.fromisoformat(event["data"]["reminder"]["remind_at"])
        lags.append((arrived - remind_at.timestamp()) * 1000)
    consumer.close()


def run(harness: Harness, config: Config, report: Report) -> None:
    n, window = config.reminders, config.reminder_window_seconds
    users = make_users("bench-remind", max(1, n // 10))
    placeholder = timezone.now() + timedelta(days=3650)
    tasks = Task.objects.bulk_create(
        [Task(owner=users[i % len(users)], title=f"call the dentist {i}", due_at=placeholder) for i in range(n)],
        batch_size=2000,
    )
    Reminder.objects.bulk_create(
        [Reminder(task=task, remind_at=placeholder, offset_minutes=None) for task in tasks], batch_size=2000
    )
    with connection.cursor() as cursor:
        cursor.execute(
            f"CREATE TABLE {BASELINE_TABLE} (id bigserial PRIMARY KEY, remind_at timestamptz NOT NULL, "
            "status text NOT NULL DEFAULT 'scheduled', fired_at timestamptz)"
        )
        cursor.execute(f"CREATE INDEX {BASELINE_TABLE}_due ON {BASELINE_TABLE} (remind_at) WHERE status = 'scheduled'")

    dispatcher = harness.manage("dispatch-reminders", "dispatch_reminders", "--loop")
    dispatcher.wait_for_log("dispatching due reminders every", 60)

    lags_kafka: list[float] = []
    start = time.time() + 3.0
    deadline = start + window + 60
    watcher = threading.Thread(target=_watch_kafka, args=(n, deadline, lags_kafka), daemon=True)
    watcher.start()
    # Due times spread at random over the window, the same ones for ours and the baseline.
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "UPDATE tasks_app_reminder SET remind_at = to_timestamp(%s) + random() * %s * interval '1 second' "
            "WHERE status = %s AND task_id IN (SELECT id FROM tasks_app_task WHERE title LIKE 'call the dentist %%')",
            [start, window, ReminderStatus.SCHEDULED],
        )
        cursor.execute(
            f"INSERT INTO {BASELINE_TABLE} (remind_at) SELECT r.remind_at FROM tasks_app_reminder r "  # noqa: S608
            "JOIN tasks_app_task t ON t.id = r.task_id WHERE t.title LIKE 'call the dentist %%'"
        )

    stop = threading.Event()
    db = connection.settings_dict
    dsn = f"host={db['HOST'] or 'localhost'} port={db['PORT'] or 5432} dbname={db['NAME']}"
    if db.get("USER"):
        dsn += f" user={db['USER']}"
    baseline = threading.Thread(
        target=_baseline_loop, args=(dsn, settings.REMINDER_DISPATCH_INTERVAL_SECONDS, 500, stop), daemon=True
    )
    baseline.start()

    def ours_lags() -> list[float]:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT extract(epoch FROM fired_at - remind_at) * 1000 FROM tasks_app_reminder r "
                "JOIN tasks_app_task t ON t.id = r.task_id WHERE t.title LIKE 'call the dentist %%' "
                "AND fired_at IS NOT NULL"
            )
            return [float(row[0]) for row in cursor.fetchall()]

    def baseline_lags() -> list[float]:
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT extract(epoch FROM fired_at - remind_at) * 1000 FROM {BASELINE_TABLE} "  # noqa: S608
                "WHERE fired_at IS NOT NULL"
            )
            return [float(row[0]) for row in cursor.fetchall()]

    wait_until(lambda: len(ours_lags()) >= n and len(baseline_lags()) >= n, window + 90, f"{n} reminders fired", 0.5)
    stop.set()
    watcher.join(timeout=max(1.0, deadline - time.time()))
    harness.stop(dispatcher)
    baseline.join(timeout=5)
    ours, raw = ours_lags(), baseline_lags()
    report.samples[SCENARIO + " fire lag"] = {
        "dispatcher": ours,
        "raw polling loop": raw,
        "reminder.due on Kafka": lags_kafka,
    }
    label = "raw SKIP LOCKED loop"
    report.add(
        Figure(SCENARIO, "fire lag p50", "ms", percentile(ours, 50), percentile(raw, 50), label),
        Figure(SCENARIO, "fire lag p99", "ms", percentile(ours, 99), percentile(raw, 99), label, ("ours<=", 1000)),
        Figure(
            SCENARIO, "due → reminder.due on Kafka p99", "ms", percentile(lags_kafka, 99), percentile(raw, 99), label
        ),
    )
    report.scenarios[SCENARIO] = {
        "reminders": n,
        "window_seconds": window,
        "dispatch_interval_seconds": settings.REMINDER_DISPATCH_INTERVAL_SECONDS,
        "seen_on_kafka": len(lags_kafka),
    }
