"""The MCP server (the SDK's low-level `Server`): lists the tools and runs a call as the caller.

The low-level server rather than FastMCP: FastMCP derives schemas from Python signatures, while
ours come from the OpenAPI document (mcp_app/schemas.py), and input is validated by REST's own
serializers and filters so that errors carry REST's field messages (hence `validate_input=False`).
"""

from __future__ import annotations

import json
import logging
from functools import cache
from typing import Any

from asgiref.sync import sync_to_async
from django.db import close_old_connections
from mcp import types
from mcp.server.lowlevel import Server

from core.correlation import correlation_scope, get_correlation_id
from core.errors import api_exception_handler, error_body
from mcp_app.context import get_caller
from mcp_app.tools import BY_NAME, TOOLS
from mcp_app.tools.base import Outcome, ToolSpec, reject_unknown

logger = logging.getLogger(__name__)

INSTRUCTIONS = (
    "Manage the user's to-do list. Find tasks with list_tasks (filters, search, ordering, paging) before changing "
    "them by id. Pass a fresh idempotency_key to every write you might retry. Errors are JSON objects "
    '{"error": {"code", "message", "fields"}}: fix the named fields and call again.'
)


def build_server() -> Server:
    server: Server = Server("todo", version="1.0.0", instructions=INSTRUCTIONS)

    @server.list_tools()
    async def list_tools() -> list[types.Tool]:
        definitions = await sync_to_async(tool_definitions, thread_sensitive=False)()
        return list(definitions.values())

    @server.call_tool(validate_input=False)
    async def call_tool(name: str, arguments: dict[str, Any]) -> types.CallToolResult:
        tool = BY_NAME.get(name)
        if tool is None:
            return _error_result(error_body("not_found", f"Unknown tool {name!r}; see tools/list."))
        return await sync_to_async(invoke, thread_sensitive=False)(tool, dict(arguments or {}))

    return server


@cache
def tool_definitions() -> dict[str, types.Tool]:
    """Built once per process: the schemas come from the OpenAPI document, which does not change."""
    return {tool.name: tool.definition() for tool in TOOLS}


def invoke(tool: ToolSpec, arguments: dict[str, Any]) -> types.CallToolResult:
    """Run one tool call in this (worker) thread, as a request would: fresh database
    connections, the request's correlation id (a new one per call over stdio), REST's error body
    for any failure, never an exception out of here."""
    caller = get_caller()
    with correlation_scope(get_correlation_id()):
        close_old_connections()
        try:
            if not tool.serializer_checks_keys:
                reject_unknown(arguments, tool_definitions()[tool.name].inputSchema)
            outcome = tool.run(caller, arguments)
        except Exception as exc:  # noqa: BLE001 - a call always gets an answer: REST's handler picks it
            return _error_result(_error_body(exc))
        finally:
            close_old_connections()
        return _result(outcome)


def _error_body(exc: Exception) -> dict[str, Any]:
    response = api_exception_handler(exc, {})
    if response is None:
        logger.exception("MCP tool call failed")
        return error_body("server_error", "An unexpected error occurred.")
    return response.data


def _result(outcome: Outcome) -> types.CallToolResult:
    return types.CallToolResult(
        content=[types.TextContent(type="text", text=json.dumps(outcome.body, ensure_ascii=False))],
        structuredContent=outcome.body,
        _meta={"idempotent_replayed": True} if outcome.replayed else None,
    )


def _error_result(body: dict[str, Any]) -> types.CallToolResult:
    return types.CallToolResult(
        content=[types.TextContent(type="text", text=json.dumps(body, ensure_ascii=False))], isError=True
    )
