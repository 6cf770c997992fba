"""Prometheus metrics of Celery jobs, and the endpoint (`core.metrics_server`) that serves them in
Celery worker and beat processes.

Per task name: jobs started, succeeded, failed and retried, and their duration. Connected through
Celery's signals, so every task is counted without touching it.

The signals fire in the worker's main process and in the beat process. The Docker image runs the
worker with the threads pool, so the jobs run in the process that serves the metrics; a prefork
pool's children would keep their own, unscraped registries.
"""

from __future__ import annotations

import time
from typing import Any

from celery.signals import beat_init, task_failure, task_postrun, task_prerun, task_retry, task_success, worker_init
from prometheus_client import Counter, Histogram

from core.metrics_server import start_metrics_server

TASKS_STARTED = Counter("celery_tasks_started_total", "Celery jobs started", ["task"])
TASKS_SUCCEEDED = Counter("celery_tasks_succeeded_total", "Celery jobs that returned", ["task"])
TASKS_FAILED = Counter("celery_tasks_failed_total", "Celery jobs that raised (and were not retried)", ["task"])
TASKS_RETRIED = Counter("celery_tasks_retried_total", "Celery jobs that asked to be retried", ["task"])
TASK_DURATION = Histogram(
    "celery_task_duration_seconds",
    "Run time of Celery jobs, whatever their outcome",
    ["task"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
)

# Start times by task id: prerun and postrun of one job run in the same worker process.
_started: dict[str, float] = {}


def _name(task: Any) -> str:
    return getattr(task, "name", None) or "unknown"


@worker_init.connect
def _start_worker_metrics(**kwargs: Any) -> None:
    start_metrics_server("worker")


@beat_init.connect
def _start_beat_metrics(**kwargs: Any) -> None:
    start_metrics_server("beat")


@task_prerun.connect
def _job_started(task_id: str | None = None, task: Any = None, **kwargs: Any) -> None:
    TASKS_STARTED.labels(_name(task)).inc()
    if task_id:
        _started[task_id] = time.perf_counter()


@task_postrun.connect
def _job_finished(task_id: str | None = None, task: Any = None, **kwargs: Any) -> None:
    started = _started.pop(task_id, None) if task_id else None
    if started is not None:
        TASK_DURATION.labels(_name(task)).observe(time.perf_counter() - started)


@task_success.connect
def _job_succeeded(sender: Any = None, **kwargs: Any) -> None:
    TASKS_SUCCEEDED.labels(_name(sender)).inc()


@task_failure.connect
def _job_failed(sender: Any = None, **kwargs: Any) -> None:
    TASKS_FAILED.labels(_name(sender)).inc()


@task_retry.connect
def _job_retried(sender: Any = None, **kwargs: Any) -> None:
    TASKS_RETRIED.labels(_name(sender)).inc()
