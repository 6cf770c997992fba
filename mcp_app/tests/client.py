"""A real web process and the official SDK's clients for the MCP tests."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import anyio
import httpx
from mcp import ClientSession, types
from mcp.client.streamable_http import streamable_http_client


@asynccontextmanager
async def mcp_session(base: str, token: str | None, **headers: str) -> AsyncIterator[ClientSession]:
    """An initialized session with `/mcp` over Streamable HTTP, as an agent would open one."""
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    async with (
        httpx.AsyncClient(headers=headers, timeout=30) as http,
        streamable_http_client(f"{base}/mcp", http_client=http) as (read, write, _session_id),
        ClientSession(read, write) as session,
    ):
        await session.initialize()
        yield session


def run(scenario: Callable[[], Awaitable[Any]]) -> Any:
    return anyio.run(scenario)


def error_of(result: types.CallToolResult) -> dict[str, Any]:
    """The REST error body a failed call carries."""
    assert result.isError, result
    return json.loads(result.content[0].text)["error"]


def ok(result: types.CallToolResult) -> dict[str, Any]:
    assert not result.isError, result.content
    assert result.structuredContent is not None
    assert json.loads(result.content[0].text) == result.structuredContent
    return result.structuredContent
