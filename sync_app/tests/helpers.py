"""Helpers for the sync tests: tokens of every kind, stored updates, a WebSocket communicator.

`channels.testing` cannot be imported without daphne (its package imports the live server), so
`WebsocketCommunicator` here is the few methods of Channels' one that the tests use.
"""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any
from unittest import mock
from urllib.parse import urlparse

from asgiref.sync import async_to_sync, sync_to_async
from asgiref.testing import ApplicationCommunicator
from django.conf import settings

from core.auth.tokens import issue_token
from sync_app.auth import forget_active_users
from sync_app.routing import websocket_application
from sync_app.services import sync_update_record

ORIGIN = (b"origin", b"http://localhost")


def run(scenario: Callable[[], Awaitable[Any]]) -> Any:
    """Run an async scenario from the test thread. The consumer's database calls then run on
    this thread, inside the test's transaction; Channels must not close that connection
    between calls (as its own communicator also ensures), and the consumer's reads come back to
    this thread instead of `db_reads`' pool. Users are read afresh: each test has its own."""
    forget_active_users()
    with (
        mock.patch("channels.db.close_old_connections", return_value=None),
        mock.patch("sync_app.db_reads.read", _read_on_this_thread),
    ):
        return async_to_sync(scenario)()


async def _read_on_this_thread(func: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
    return await sync_to_async(func)(*args, **kwargs)


class WebsocketCommunicator(ApplicationCommunicator):
    def __init__(self, application: Any, path: str, headers: list[tuple[bytes, bytes]], subprotocols: list[str]):
        parsed = urlparse(path)
        scope = {
            "type": "websocket",
            "path": parsed.path,
            "query_string": parsed.query.encode(),
            "headers": headers,
            "subprotocols": subprotocols,
        }
        super().__init__(application, scope)

    async def connect(self, timeout: float = 5) -> tuple[bool, Any]:
        """(True, chosen subprotocol) when accepted, (False, close code) when refused."""
        await self.send_input({"type": "websocket.connect"})
        response = await self.receive_output(timeout)
        if response["type"] == "websocket.close":
            return False, response.get("code", 1000)
        assert response["type"] == "websocket.accept"
        return True, response.get("subprotocol")

    async def send_to(self, *, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if text_data is not None:
            await self.send_input({"type": "websocket.receive", "text": text_data})
        else:
            await self.send_input({"type": "websocket.receive", "bytes": bytes_data})

    async def send_json_to(self, data: Any) -> None:
        await self.send_to(text_data=json.dumps(data))

    async def receive_json_from(self, timeout: float = 1) -> Any:
        response = await self.receive_output(timeout)
        assert response["type"] == "websocket.send", response
        return json.loads(response["text"])

    async def disconnect(self, code: int = 1000, timeout: float = 5) -> None:
        await self.send_input({"type": "websocket.disconnect", "code": code})
        await self.wait(timeout)


def token_for(user: Any, ttl_seconds: int | None = None) -> str:
    return issue_token(subject=user.username, email=user.email, ttl_seconds=ttl_seconds)


def unsigned_token(user: Any) -> str:
    """An `alg: none` token with otherwise valid claims."""

    def part(document: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(document).encode()).rstrip(b"=").decode()

    claims = {
        "sub": user.username,
        "iss": settings.JWT_ISSUER,
        "aud": settings.JWT_AUDIENCE,
        "exp": int(time.time()) + 600,
    }
    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(claims)}."


def task_payload(title: str, *, task_id: str | None = None, version: int = 1, status: str = "open") -> dict[str, Any]:
    return {"id": task_id or str(uuid.uuid4()), "title": title, "status": status, "version": version}


def store_updates(user: Any, count: int, *, event_type: str = "task.updated") -> list[Any]:
    return [
        sync_update_record(
            event_id=uuid.uuid4(), event_type=event_type, user_id=user.pk, task=task_payload(f"task {index}")
        )
        for index in range(count)
    ]


def communicator(
    query: str = "", *, headers: list[tuple[bytes, bytes]] | None = None, subprotocols: list[str] | None = None
) -> WebsocketCommunicator:
    path = "/ws/sync/" + (f"?{query}" if query else "")
    return WebsocketCommunicator(
        websocket_application, path, headers=[ORIGIN] if headers is None else headers, subprotocols=subprotocols or []
    )


@asynccontextmanager
async def connected(
    query: str = "", *, headers: list[tuple[bytes, bytes]] | None = None, subprotocols: list[str] | None = None
) -> AsyncIterator[WebsocketCommunicator]:
    """A socket the consumer accepted (the test fails otherwise), disconnected when done."""
    comm = communicator(query, headers=headers, subprotocols=subprotocols)
    assert (await comm.connect())[0]
    try:
        yield comm
    finally:
        await comm.disconnect()


async def receive_until(comm: WebsocketCommunicator, frame_type: str, timeout: float = 5) -> list[dict[str, Any]]:
    """Every frame up to and including the first of `frame_type`."""
    frames = []
    while True:
        frame = await comm.receive_json_from(timeout=timeout)
        frames.append(frame)
        if frame["type"] == frame_type:
            return frames
