"""Who a tool call acts for, and the address REST links in its answers point at.

A context variable, set once per HTTP request by the `/mcp` mount (or once for the process by
`mcp_stdio`): the SDK runs each call in a task spawned inside that context, and `sync_to_async`
carries it into the thread where the tool's ORM work runs.
"""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Caller:
    user: Any
    scheme: str = "http"
    host: str = "localhost"


current_caller: ContextVar[Caller | None] = ContextVar("mcp_caller", default=None)


def get_caller() -> Caller:
    caller = current_caller.get()
    if caller is None:  # a server wired without the mount or the command: refuse, never act as anyone
        raise RuntimeError("MCP tool called without an authenticated caller")
    return caller
