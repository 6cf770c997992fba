"""`manage.py mcp_stdio <username>` driven by the official SDK's stdio client."""

from __future__ import annotations

import sys
from typing import Any

import pytest
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client

from mcp_app.tests.client import error_of, ok, run
from tasks_app.models import Task
from tasks_app.services import task_create
from tests.fixtures import ROOT, subprocess_env

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def test_mcp_stdio_serves_every_tool_as_its_user_and_only_theirs(user, other_user):
    bobs = task_create(owner=other_user, title="Bob's task")
    server = StdioServerParameters(
        command=sys.executable, args=["manage.py", "mcp_stdio", user.username], env=subprocess_env(), cwd=str(ROOT)
    )

    async def scenario() -> dict[str, Any]:
        async with stdio_client(server) as (read, write), ClientSession(read, write) as session:
            await session.initialize()
            tools = (await session.list_tools()).tools
            created = ok(await session.call_tool("add_task", {"title": "Local agent's task", "tags": ["cli"]}))
            return {
                "tools": {tool.name for tool in tools},
                "created": created,
                "listed": ok(await session.call_tool("list_tasks", {"tag": "cli"})),
                "next": ok(await session.call_tool("list_tasks", {"limit": 1, "offset": 0})),
                "bobs": error_of(await session.call_tool("get_task", {"task_id": str(bobs.id)})),
                "all": ok(await session.call_tool("list_tasks", {})),
            }

    seen = run(scenario)
    assert len(seen["tools"]) == 11
    assert [task["id"] for task in seen["listed"]["results"]] == [seen["created"]["id"]]
    assert seen["bobs"]["code"] == "not_found"
    assert seen["all"]["count"] == 1
    assert Task.objects.get(id=seen["created"]["id"]).owner == user
