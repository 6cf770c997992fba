"""The HTTP endpoint of the roles that serve no HTTP: Celery worker and beat, the outbox relay and
the Kafka consumers.

Each such process calls `start_metrics_server(role)` once at start-up. With `METRICS_PORT` set (the
Docker image's roles and the Helm chart set it) it serves, on `http://METRICS_ADDR:METRICS_PORT`
from daemon threads:

- `/healthz`: 200 while the process answers (liveness; no dependency is checked);
- `/readyz`: the role's readiness (core/health.py `readiness`): 503 while a dependency it cannot
  work without is down;
- any other path, `/metrics` included: this process's Prometheus registry.

Without a port nothing is started, so local runs and tests that start many such processes never
fight over a port. The web process serves all three itself and needs none of this.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
from collections.abc import Callable, Iterable
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import make_wsgi_app

from core.health import ROLES, readiness

logger = logging.getLogger(__name__)

_lock = threading.Lock()
_started_port: int | None = None

StartResponse = Callable[[str, list[tuple[str, str]]], Any]


class _Server(ThreadingMixIn, WSGIServer):
    # A readiness probe waits up to ~2 s on a dead dependency: a scrape must not queue behind it.
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """The kubelet and Prometheus call every few seconds: no access log line for each."""


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


def probe_app(role: str) -> Callable[[dict[str, Any], StartResponse], Iterable[bytes]]:
    """The WSGI app of `role`'s endpoint: health, readiness and metrics."""
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}; known: {', '.join(ROLES)}")
    metrics = make_wsgi_app()

    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path == "/healthz":
            status, body = 200, {"status": "ok"}
        elif path == "/readyz":
            status, body = readiness(role)
        else:
            return metrics(environ, start_response)
        payload = json.dumps(body).encode()
        reason = "OK" if status == 200 else "Service Unavailable"
        start_response(
            f"{status} {reason}", [("Content-Type", "application/json"), ("Content-Length", str(len(payload)))]
        )
        return [payload]

    return app


def serve(role: str, port: int, addr: str) -> WSGIServer:
    """Start `role`'s endpoint on `addr:port` in a daemon thread; `shutdown()` stops it."""
    family = socket.getaddrinfo(addr, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0][0]
    server_class = type("_Server", (_Server,), {"address_family": family})  # `::` binds IPv6
    server = make_server(addr, port, probe_app(role), server_class=server_class, handler_class=_QuietHandler)
    threading.Thread(target=server.serve_forever, name=f"metrics-{role}", daemon=True).start()
    return server


def start_metrics_server(role: str, port: int | None = None) -> int | None:
    """Serve `role`'s health, readiness and metrics on `port` (METRICS_PORT when None); returns
    the port, or None when there is none (or it is 0).

    Idempotent within a process: a second call returns the port already serving.
    """
    global _started_port
    port = metrics_port() if port is None else port
    if not port:
        return None
    with _lock:
        if _started_port is None:
            addr = os.environ.get("METRICS_ADDR", "0.0.0.0")  # noqa: S104 - scraped from outside the pod
            serve(role, port, addr)
            _started_port = port
            logger.info("metrics server listening", extra={"metrics_port": port, "role": role})
        return _started_port
