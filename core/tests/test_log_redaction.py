"""Bearer tokens in URLs never reach the logs (uvicorn logs request lines with their query)."""

from __future__ import annotations

import sys
import urllib.request
from pathlib import Path

import pytest

from core.logging import redact
from kafka_bridge.embedded import free_port
from tests.fixtures import ManagedProcesses, wait_until

SECRET = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJl"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (f"/ws/sync/?token={SECRET}", "/ws/sync/?token=[redacted]"),
        (f"/ws/sync/?cursor=42&token={SECRET}&x=1", "/ws/sync/?cursor=42&token=[redacted]&x=1"),
        (f"/api/v1/tasks/?access_token={SECRET}", "/api/v1/tasks/?access_token=[redacted]"),
        ("/api/v1/tasks/?q=tokenizer&mytoken=1", "/api/v1/tasks/?q=tokenizer&mytoken=1"),
    ],
)
def test_redact_removes_tokens_from_urls(url: str, expected: str) -> None:
    assert redact(url) == expected


@pytest.mark.django_db(transaction=True)
def test_uvicorn_access_log_of_the_web_role_carries_no_token(processes: ManagedProcesses) -> None:
    port = free_port()
    web = processes.start(
        "web",
        [
            sys.executable,
            "-m",
            "uvicorn",
            "todo_project.asgi:application",
            "--port",
            str(port),
            "--log-config",
            "docker/uvicorn-logging.json",
        ],
    )

    def request() -> bool:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz?token={SECRET}", timeout=2).close()
        except OSError:
            return False
        return True

    wait_until(request, timeout=30, message="web answering")
    log = Path(web.log_path)
    wait_until(lambda: "/healthz?token=[redacted]" in log.read_text(), timeout=10, message="the access log line")
    assert SECRET not in log.read_text()
