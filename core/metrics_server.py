"""The Prometheus endpoint of the processes that serve no HTTP: Celery worker and beat, the
outbox relay and the Kafka consumers.

Each such process calls `start_metrics_server()` once at start-up. With `METRICS_PORT` set (the
Docker image's roles and the Helm chart set it) it serves this process's registry on
`http://0.0.0.0:METRICS_PORT/` (any path, `/metrics` included) from a daemon thread; without it
nothing is started, so local runs and tests that start many such processes never fight over a
port. The web process serves `/metrics` itself and needs none of this.
"""

from __future__ import annotations

import logging
import os
import threading

from prometheus_client import start_http_server

logger = logging.getLogger(__name__)

_lock = threading.Lock()
_started_port: int | None = None


def metrics_port() -> int | None:
    """`METRICS_PORT` as a port number, or None when unset or empty."""
    raw = os.environ.get("METRICS_PORT", "").strip()
    if not raw:
        return None
    try:
        port = int(raw)
    except ValueError:
        raise ValueError(f"METRICS_PORT must be a port number, not {raw!r}") from None
    if not 0 < port < 65536:
        raise ValueError(f"METRICS_PORT must be between 1 and 65535, not {port}")
    return port


def start_metrics_server() -> int | None:
    """Serve Prometheus metrics on `METRICS_PORT`; returns the port, or None when unset.

    Idempotent within a process: a second call returns the port already serving.
    """
    global _started_port
    port = metrics_port()
    if port is None:
        return None
    with _lock:
        if _started_port is None:
            addr = os.environ.get("METRICS_ADDR", "0.0.0.0")  # noqa: S104 - scraped from outside the pod
            start_http_server(port, addr=addr)
            _started_port = port
            logger.info("metrics server listening", extra={"metrics_port": port})
        return _started_port
