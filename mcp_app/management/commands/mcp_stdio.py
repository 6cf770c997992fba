"""`manage.py mcp_stdio <username>`: the MCP tools over stdio, acting as that user, for an agent
running on this machine (its MCP client starts this command and talks on stdin/stdout)."""

from __future__ import annotations

from typing import Any

import anyio
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connections
from mcp.server.stdio import stdio_server

from core.auth.services import user_get_or_provision
from mcp_app.context import Caller, current_caller
from mcp_app.server import build_server


class Command(BaseCommand):
    help = "Serve the MCP tools over stdio as <username> (created if new, as by issue_token)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")

    def handle(self, *args: Any, username: str, **options: Any) -> None:
        if not 1 <= len(username) <= 150:
            raise CommandError("username must be 1 to 150 characters")
        user = user_get_or_provision(username=username)
        if not user.is_active:
            raise CommandError(f"user {username!r} is inactive")
        # Tool calls run in worker threads with connections of their own; this one would idle.
        connections.close_all()
        # stdout carries the protocol: nothing else may be written there (logs go to stderr).
        anyio.run(_serve, Caller(user=user, host=f"localhost:{settings.PORT}"))


async def _serve(caller: Caller) -> None:
    server = build_server()
    current_caller.set(caller)
    async with stdio_server() as (read, write):
        await server.run(read, write, server.create_initialization_options())
