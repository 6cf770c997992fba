"""A greedy client at the REST API (OWASP API4:2023): past its per-user limit it gets 429s, with
`Retry-After` and the error shape, while another user's requests are answered as usual.

One uvicorn process as the web start script runs it; the greedy user lists tasks on 8 keep-alive
connections as fast as the server answers, the other user on one connection, one request at a
time. The limit is per day here (`API_THROTTLE_USER_RATE`), so no window boundary falls inside
the test."""

from __future__ import annotations

import http.client
import json
import threading
import time
from typing import Any

import pytest

from bench.httpload import request_bytes, run_load
from bench.stats import percentile
from core.auth.tokens import issue_token
from tests.observability.stack import Stack

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

LIMIT = 150
GREEDY_CONNECTIONS = 8
SECONDS = 6.0
# The other user's p99 while the greedy client is refused: what the README's REST p99 (133 ms
# under 16 closed-loop connections) allows with a busy, shared machine's margin.
OTHER_USER_P99_MS = 1000.0
LIST = "/api/v1/tasks/?limit=20"
# 10 requests a second: under LIMIT for the whole test.
PACE_SECONDS = 0.1


class OneUser(threading.Thread):
    """A user within its limit: a request every PACE_SECONDS (or when the last is answered, if
    later) on one keep-alive connection until stopped; keeps each answer."""

    def __init__(self, port: int, token: str) -> None:
        super().__init__(name="other-user")
        self.port = port
        self.token = token
        self.stopped = threading.Event()
        self.latencies_ms: list[float] = []
        self.statuses: list[int] = []

    def run(self) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            while not self.stopped.is_set():
                started = time.perf_counter()
                connection.request("GET", LIST, headers={"Authorization": f"Bearer {self.token}"})
                response = connection.getresponse()
                response.read()
                self.latencies_ms.append((time.perf_counter() - started) * 1000)
                self.statuses.append(response.status)
                self.stopped.wait(max(0.0, PACE_SECONDS - (time.perf_counter() - started)))
        finally:
            connection.close()


def measure_other_user(port: int, token: str, seconds: float, during: Any = None) -> OneUser:
    other = OneUser(port, token)
    other.start()
    if during is not None:
        during()
    else:
        time.sleep(seconds)
    other.stopped.set()
    other.join(timeout=30)
    return other


def test_a_greedy_client_gets_429_past_its_limit_while_another_users_p99_holds(processes, make_user, figures):
    greedy, other = make_user("greedy"), make_user("other")
    greedy_token = issue_token(subject=greedy.username, email=greedy.email)
    other_token = issue_token(subject=other.username, email=other.email)
    stack = Stack(processes, API_THROTTLE_USER_RATE=f"{LIMIT}/day")
    stack.start_web()
    stack.wait_ready()
    port = stack.web_port

    alone = measure_other_user(port, other_token, SECONDS / 2)
    greedy_requests = [
        lambda _: request_bytes("GET", LIST, port=port, token=greedy_token) for _ in range(GREEDY_CONNECTIONS)
    ]
    load: dict[str, Any] = {}
    under_load = measure_other_user(
        port, other_token, SECONDS, during=lambda: load.update(result=run_load(port, greedy_requests, SECONDS))
    )
    result = load["result"]

    status, body, headers = _get(port, greedy_token)
    figures.record(
        limit=LIMIT,
        greedy_requests=sum(result.statuses.values()),
        greedy_per_s=sum(result.statuses.values()) / result.seconds,
        greedy_statuses=dict(result.statuses),
        other_requests=len(under_load.statuses),
        other_p99_alone_ms=percentile(alone.latencies_ms, 99),
        other_p99_under_load_ms=percentile(under_load.latencies_ms, 99),
    )
    assert result.statuses.get(200, 0) <= LIMIT, result.statuses
    assert result.statuses.get(429, 0) > 0, f"the greedy client was never refused: {result.statuses}"
    assert set(result.statuses) <= {200, 429}, result.statuses
    assert status == 429
    assert 1 <= int(headers["Retry-After"]) <= 86_400
    assert body["error"]["code"] == "throttled"
    assert body["error"]["request_id"]

    assert set(under_load.statuses) == {200}, f"the other user was refused: {under_load.statuses}"
    assert len(under_load.statuses) >= 10
    assert percentile(under_load.latencies_ms, 99) <= OTHER_USER_P99_MS


def _get(port: int, token: str) -> tuple[int, Any, Any]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("GET", LIST, headers={"Authorization": f"Bearer {token}"})
        response = connection.getresponse()
        return response.status, json.loads(response.read()), response.headers
    finally:
        connection.close()
