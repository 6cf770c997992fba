"""A write through `/mcp` travels like a REST write: outbox → relay → Kafka → the `sync`
consumer → the owner's WebSocket, and → the `audit` consumer → the audit log, carrying the MCP
request's correlation id all the way (and `task_history` shows it)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from audit_app.models import AuditLog
from mcp_app.tests.client import mcp_session, ok, run
from sync_app.tests.e2e import Stack, next_frame
from sync_app.tests.helpers import token_for
from tests.fixtures import subprocess_env, wait_until

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


@pytest.fixture(scope="module")
def stack(django_db_setup: None, django_db_blocker: Any, kafka_topics: None) -> Iterator[Stack]:
    with django_db_blocker.unblock():
        env = subprocess_env(API_THROTTLE_USER_RATE="")
    running = Stack(env)
    try:
        audit = running.managed.manage("audit-consumer", "run_consumer", "audit", env=env)
        running.start()
        log = Path(audit.log_path)
        wait_until(lambda: "partitions assigned" in log.read_text(), timeout=60, message="audit consumer assigned")
        yield running
    finally:
        running.managed.stop_all()


def test_a_write_through_mcp_reaches_the_owners_websocket_and_the_audit_log_with_its_correlation_id(stack, user):
    token = token_for(user)
    correlation_id = f"mcp-e2e-{uuid.uuid4().hex}"

    async def add_task() -> dict[str, Any]:
        async with mcp_session(stack.base, token, **{"X-Request-ID": correlation_id}) as session:
            return ok(await session.call_tool("add_task", {"title": "Call the plumber"}))

    with stack.socket(f"token={token}") as ws:
        assert next_frame(ws)["type"] == "ready"
        created = run(add_task)
        frame = next_frame(ws)
    assert (frame["type"], frame["task"]["id"], frame["task"]["title"]) == (
        "task.created",
        created["id"],
        "Call the plumber",
    )

    entries = AuditLog.objects.filter(task_id=created["id"], event_type="task.created")
    wait_until(lambda: entries.filter(topic="task-events").exists(), timeout=60, message="task.created audited")
    assert set(entries.values_list("correlation_id", flat=True)) == {correlation_id}

    async def history() -> dict[str, Any]:
        async with mcp_session(stack.base, token) as session:
            return ok(await session.call_tool("task_history", {"task_id": created["id"]}))

    trail = run(history)["results"]
    assert [(entry["type"], entry["correlation_id"]) for entry in trail] == [("task.created", correlation_id)]
