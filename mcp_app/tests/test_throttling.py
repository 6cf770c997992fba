"""`/mcp` counts against the REST API's per-user rate limit (DESIGN.md section 4): over it, a
caller gets the API's 429 with Retry-After and the JSON error shape, before any MCP message is
read. A real uvicorn with a limit of 3 requests a day, counting in the real Redis."""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from django.core.cache import cache

from core.auth.tokens import issue_token
from sync_app.tests.e2e import Stack, web_only

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

LIST_TOOLS = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
DAY = 86_400


@pytest.fixture(scope="module")
def limited_web(django_db_setup: None, django_db_blocker: Any) -> Iterator[Stack]:
    with web_only(django_db_blocker, API_THROTTLE_USER_RATE="3/day") as stack:
        yield stack


def _forget_counts(*users: Any) -> None:
    # The counters live in the shared Redis for a day: a user id of an earlier run starts afresh.
    window = int(time.time() // DAY)
    for user in users:
        cache.delete_many([f"throttle_user_{user.pk}_{window + step}" for step in (0, 1)])


def test_a_user_over_the_rate_limit_gets_429_with_retry_after_before_any_tool_runs(limited_web, make_user):
    alice, bob = make_user("alice"), make_user("bob")
    _forget_counts(alice, bob)

    def post(user: Any) -> httpx.Response:
        return httpx.post(
            f"{limited_web.base}/mcp",
            json=LIST_TOOLS,
            headers={
                "Authorization": f"Bearer {issue_token(subject=user.username, email=user.email)}",
                "Accept": "application/json, text/event-stream",
            },
            timeout=30,
        )

    allowed = [post(alice) for _ in range(3)]
    refused = post(alice)
    other = post(bob)

    assert [response.status_code for response in allowed] == [200] * 3
    assert all("tools" in response.json()["result"] for response in allowed)
    assert refused.status_code == 429
    assert 1 <= int(refused.headers["retry-after"]) <= math.ceil(DAY)
    error = refused.json()["error"]
    assert error["code"] == "throttled"
    assert error["request_id"] == refused.headers["x-request-id"]
    assert other.status_code == 200  # a limit per user
