"""Celery job metrics (core/celery_metrics.py), counted from Celery's signals around real task
executions (run in-process with `apply`, which sends the same signals as a worker)."""

from __future__ import annotations

import pytest
from prometheus_client import REGISTRY

from todo_project.celery import app


@app.task(name="tests.observability.succeeds")
def succeeds() -> str:
    return "ok"


@app.task(name="tests.observability.fails")
def fails() -> None:
    raise ValueError("broken on purpose")


@app.task(bind=True, name="tests.observability.retries", max_retries=1, default_retry_delay=0)
def retries(self: object) -> None:
    raise self.retry(exc=RuntimeError("not yet"))  # type: ignore[attr-defined]


def _value(name: str, task: str) -> float:
    return REGISTRY.get_sample_value(name, {"task": task}) or 0.0


def _snapshot(task: str) -> dict[str, float]:
    return {
        outcome: _value(f"celery_tasks_{outcome}_total", task)
        for outcome in ("started", "succeeded", "failed", "retried")
    } | {"runs": _value("celery_task_duration_seconds_count", task)}


@pytest.mark.parametrize(
    ("task", "expected"),
    [
        (succeeds, {"started": 1, "succeeded": 1, "failed": 0, "retried": 0, "runs": 1}),
        (fails, {"started": 1, "succeeded": 0, "failed": 1, "retried": 0, "runs": 1}),
        # `apply` runs the retry too: two runs, one retry, then the last attempt fails.
        (retries, {"started": 2, "succeeded": 0, "failed": 1, "retried": 1, "runs": 2}),
    ],
    ids=["success", "failure", "retry"],
)
def test_jobs_are_counted_by_outcome_and_timed(task: object, expected: dict[str, float]) -> None:
    before = _snapshot(task.name)  # type: ignore[attr-defined]

    task.apply()  # type: ignore[attr-defined]

    after = _snapshot(task.name)  # type: ignore[attr-defined]
    assert {key: after[key] - before[key] for key in after} == expected
