"""Starts the Prometheus endpoint (`core.metrics_server`) in Celery worker and beat processes.

The signals fire in the worker's main process and in the beat process. The Docker image runs the
worker with the threads pool, so the jobs run in the process that serves the metrics; a prefork
pool's children would keep their own, unscraped registries.
"""

from __future__ import annotations

from typing import Any

from celery.signals import beat_init, worker_init

from core.metrics_server import start_metrics_server


@worker_init.connect
def _start_worker_metrics(**kwargs: Any) -> None:
    start_metrics_server()


@beat_init.connect
def _start_beat_metrics(**kwargs: Any) -> None:
    start_metrics_server()
