"""The private Channels internals this project uses, in one place, for Channels 4.3.2 only.

`OneTaskWebsocketConsumer` replaces `AsyncConsumer.__call__` and `dispatch`: what they set up
(`scope`, `channel_layer`, `channel_name`, `base_send`) and how they end (`StopConsumer`) are
Channels' internals, so a new Channels version is reviewed here before it runs."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from channels.consumer import get_handler_name
from channels.exceptions import StopConsumer
from channels.generic.websocket import AsyncWebsocketConsumer
from channels.layers import get_channel_layer

from core.internals.versions import require_version

PINNED = "4.3.2"


def check_version() -> None:
    """Refuse to run on a Channels other than the one these internals were written for."""
    require_version("channels", PINNED)


class OneTaskWebsocketConsumer(AsyncWebsocketConsumer):
    """`AsyncWebsocketConsumer` with one task instead of three per connection.

    Channels' `await_many_dispatch` keeps a task for each of the client and the channel layer,
    plus an `asyncio.wait` per message. Here the client is read in the connection's own task and
    the layer in one helper task; the `handling` lock keeps handlers one at a time, as there. An
    error in a layer handler ends the connection as it would there: it is raised from `__call__`.

    Unlike Channels' `dispatch`, no `close_old_connections` runs in a thread before each handler
    (a thread hop per ping or update): handlers must reach the database through code that cleans
    up connections itself (`channels.db.database_sync_to_async` does). A channel layer is required.
    """

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        self.scope = scope
        self.channel_layer = get_channel_layer(self.channel_layer_alias)
        self.channel_name = await self.new_channel_name()
        self.base_send = send
        self.handling = asyncio.Lock()
        self.layer_error: BaseException | None = None
        layer_task = asyncio.ensure_future(self.layer_messages(asyncio.current_task()))
        try:
            while True:
                message = await receive()
                async with self.handling:
                    await self.dispatch(message)
        except StopConsumer:
            pass
        except asyncio.CancelledError:
            if isinstance(self.layer_error, StopConsumer):
                return
            if self.layer_error is not None:
                raise self.layer_error from None
            raise
        finally:
            self.connection_ended()
            layer_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await layer_task

    async def new_channel_name(self) -> str:
        """This connection's channel on the layer."""
        return await self.channel_layer.new_channel()

    def connection_ended(self) -> None:
        """Called once the connection's task ends, however it ends (a handler may have failed
        before `disconnect` ran): release what must not outlive it. Must not block."""

    async def layer_messages(self, connection: asyncio.Task[Any] | None) -> None:
        try:
            while True:
                message = await self.channel_layer.receive(self.channel_name)
                async with self.handling:
                    await self.dispatch(message)
        except asyncio.CancelledError:
            raise
        except BaseException as exc:  # noqa: BLE001 - handed to the connection's task, raised there
            self.layer_error = exc
            if connection is not None:
                connection.cancel()

    async def dispatch(self, message: dict[str, Any]) -> None:
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)
