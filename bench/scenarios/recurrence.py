"""7. Recurrence: completed recurring tasks turned into next occurrences per second, through the
real `recurrence` consumer (Kafka → runner → `series_generate_next` → tasks services → outbox).

Setup: N recurring tasks completed through the services while the consumer is stopped, so their
`task.completed` events wait on Kafka; then the consumer starts and the rate is measured between
its first and last successor. Baseline: the same number of tasks created by the tasks service
alone, in a loop in one process (the write the consumer must do, without Kafka, the runner, the
dedupe record or the rule)."""

from __future__ import annotations

import time
from datetime import timedelta

from django.db.models import Max, Min
from django.utils import timezone

from bench.config import Config
from bench.harness import Harness, wait_until
from bench.scenarios.common import make_users, wait_outbox_drained
from bench.stats import Figure, Report
from tasks_app.models import Task
from tasks_app.services import task_complete, task_create

SCENARIO = "7 recurrence"


def run(harness: Harness, config: Config, report: Report) -> None:
    n = config.recurrences
    owner = make_users("bench-recur", 1)[0]
    due = timezone.now() + timedelta(hours=1)
    tasks = [
        task_create(owner=owner, title=f"water the plants {i}", due_at=due, recurrence_rule="daily", tags=["home"])
        for i in range(n)
    ]
    for task in tasks:
        task_complete(task=task)
    wait_outbox_drained(timeout=120)

    consumer = harness.consumer("recurrence", wait=False)
    successors = Task.objects.filter(previous_occurrence__in=[t.id for t in tasks])
    wait_until(lambda: successors.count() >= n, 60 + n / 20, f"{n} next occurrences")
    harness.stop(consumer)
    span = successors.aggregate(first=Min("created_at"), last=Max("created_at"))
    seconds = (span["last"] - span["first"]).total_seconds()
    ours = (n - 1) / seconds if seconds > 0 else float("nan")

    # Baseline: the tasks service alone, same fields, same owner, one transaction per task.
    started = time.perf_counter()
    for i in range(n):
        task_create(
            owner=owner,
            title=f"water the plants {i}",
            due_at=due + timedelta(days=1),
            recurrence_rule="daily",
            tags=["home"],
            series_id=tasks[i].series_id,
        )
    baseline = n / (time.perf_counter() - started)
    report.add(Figure(SCENARIO, "completions → next occurrences", "/s", ours, baseline, "task_create loop"))
    report.scenarios[SCENARIO] = {"completions": n, "consumer_seconds": seconds, "baseline_per_s": baseline}
