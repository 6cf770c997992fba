"""The real processes of one deployment for the observability tests: uvicorn (as the image's web
start script runs it, JSON logs included), the looping relay, consumers and a Celery worker,
each with a metrics endpoint, plus a small REST client."""

from __future__ import annotations

import json
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from kafka_bridge.embedded import free_port
from tests.fixtures import ManagedProcesses, subprocess_env
from todo_project.uvicorn_args import WEBSOCKET_ARGS


def log_tail(path: str, lines: int = 30) -> str:
    return "\n".join(Path(path).read_text(errors="replace").splitlines()[-lines:])


class Stack:
    def __init__(self, processes: ManagedProcesses, **env: str) -> None:
        self.processes = processes
        self.env = subprocess_env(LOG_LEVEL="INFO", **env)
        self.web_port = free_port()
        self.base = f"http://127.0.0.1:{self.web_port}"
        self.metrics_ports: dict[str, int] = {}
        self.logs: dict[str, Path] = {}
        # (what is awaited, its check, the process it waits for)
        self._readiness: list[tuple[str, Callable[[], bool], Any]] = []

    def _env(self, role: str, **extra: str) -> dict[str, str]:
        port = self.metrics_ports[role] = free_port()
        return {
            **self.env,
            "METRICS_PORT": str(port),
            "METRICS_ADDR": "127.0.0.1",
            "OTEL_SERVICE_NAME": f"todo-{role}",  # used only with tracing on
            **extra,
        }

    def metrics_url(self, role: str) -> str:
        if role == "web":
            return f"{self.base}/metrics"
        return f"http://127.0.0.1:{self.metrics_ports[role]}/metrics"

    def start_web(self) -> None:
        process = self.processes.start(
            "web",
            [
                sys.executable,
                "-m",
                "uvicorn",
                "todo_project.asgi:application",
                "--port",
                str(self.web_port),
                *WEBSOCKET_ARGS,
                "--lifespan",
                "off",
                "--log-config",
                "docker/uvicorn-logging.json",
            ],
            env={**self.env, "OTEL_SERVICE_NAME": "todo-web"},
        )
        self.logs["web"] = Path(process.log_path)
        self._readiness.append(("uvicorn up", self._healthy, process))

    def start_relay(self, **env: str) -> None:
        process = self.processes.manage("relay", "relay_outbox", "--loop", env=self._env("relay", **env))
        self.logs["relay"] = log = Path(process.log_path)
        self._readiness.append(("relay leads", lambda: "outbox relay is the leader" in log.read_text(), process))

    def start_consumer(self, name: str) -> None:
        process = self.processes.manage(f"consumer-{name}", "run_consumer", name, env=self._env(f"consumer-{name}"))
        self.logs[f"consumer-{name}"] = log = Path(process.log_path)
        self._readiness.append((f"{name} consumer assigned", lambda: "partitions assigned" in log.read_text(), process))

    def start_worker(self) -> None:
        process = self.processes.celery_worker(env=self._env("worker"))
        self.logs["worker"] = log = Path(process.log_path)
        self._readiness.append(("celery worker ready", lambda: " ready." in log.read_text(), process))

    def wait_ready(self, timeout: float = 45.0) -> None:
        """Wait until every started process is up (they start in parallel). A process that exits
        or is not up in time fails the test with the end of its log (CI keeps no log files)."""
        deadline = time.monotonic() + timeout
        for message, ready, process in self._readiness:
            while not ready():
                if process.poll() is not None or time.monotonic() > deadline:
                    state = f"it exited ({process.returncode})" if process.poll() is not None else f"{timeout} s passed"
                    pytest.fail(f"waiting for {message}: {state}; the end of its log:\n{log_tail(process.log_path)}")
                time.sleep(0.1)

    def _healthy(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.base}/healthz", timeout=2) as response:  # noqa: S310 - our http URL
                return response.status == 200
        except OSError:
            return False

    def api(self, method: str, path: str, token: str, body: Any = None, **headers: str) -> tuple[int, Any, Any]:
        """(status, JSON body, response headers) of one request to /api/v1/<path>."""
        request = urllib.request.Request(  # noqa: S310 - our own http URL
            f"{self.base}/api/v1/{path}",
            method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json", **headers},
        )
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            return response.status, json.loads(response.read() or b"null"), response.headers
