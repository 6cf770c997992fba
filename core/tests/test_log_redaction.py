"""Bearer tokens in URLs never reach the logs (uvicorn logs request lines with their query)."""

from __future__ import annotations

import urllib.request

import pytest

from core.logging import redact
from tests.fixtures import ManagedProcesses, wait_until
from tests.observability.stack import Stack

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
    stack = Stack(processes)
    stack.start_web()  # as the image's web start script runs it, its log configuration included
    stack.wait_ready()

    urllib.request.urlopen(f"{stack.base}/healthz?token={SECRET}", timeout=5).close()  # noqa: S310 - our http URL

    log = stack.logs["web"]
    wait_until(lambda: "/healthz?token=[redacted]" in log.read_text(), timeout=10, message="the access log line")
    assert SECRET not in log.read_text()
