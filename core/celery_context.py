"""Carries the correlation id from the code that enqueues a Celery job into the job's logs."""

from __future__ import annotations

from typing import Any

from celery.signals import before_task_publish, task_postrun, task_prerun

from core.correlation import get_correlation_id, set_correlation_id

# Not "correlation_id": Celery's own request attribute of that name (the AMQP property) holds
# the task id, and would shadow the header in the job.
HEADER = "x_request_id"


@before_task_publish.connect
def _add_correlation_header(headers: dict[str, Any] | None = None, **kwargs: Any) -> None:
    correlation_id = get_correlation_id()
    if headers is not None and correlation_id and HEADER not in headers:
        headers[HEADER] = correlation_id


@task_prerun.connect
def _bind_correlation_id(task: Any = None, **kwargs: Any) -> None:
    set_correlation_id(getattr(task.request, HEADER, None) if task else None)


@task_postrun.connect
def _unbind_correlation_id(**kwargs: Any) -> None:
    set_correlation_id(None)
