"""The `/ws/sync/` WebSocket consumer: a connection's lifecycle and its client's frames.

What it sends comes from `replay.py` (resume from the client's cursor, then live updates) and
`timers.py` (keepalive, token expiry, a lost layer); the wire format is `protocol.py`'s.
"""

from __future__ import annotations

import contextlib
import json
import time
from typing import Any
from urllib.parse import parse_qs

from channels.exceptions import StopConsumer
from django.conf import settings

from core.internals.channels import OneTaskWebsocketConsumer
from sync_app import layer_watch, loop_lag, protocol
from sync_app.groups import user_group
from sync_app.metrics import CONNECTIONS_CLOSED, FRAMES_SENT, OPEN_CONNECTIONS
from sync_app.throttle import TokenBucket
from sync_app.ws import gc_freeze
from sync_app.ws.replay import Replay
from sync_app.ws.timers import Deadlines


class SyncConsumer(Replay, Deadlines, OneTaskWebsocketConsumer):
    """One `/ws/sync/` connection.

    Memory is the cost that scales here (thousands of idle sockets per process), so an idle
    connection holds: one extra task (channel-layer messages), one timer handle for all of its
    deadlines, and a few scalars. Buffers and the flood bucket exist only while needed. Its
    handlers reach the database only through `db_reads`, which cleans up connections itself.
    """

    groups = ()  # joined by hand in connect(); a tuple, so Channels allocates no list per socket

    # --- connection lifecycle -------------------------------------------------------------------

    async def connect(self) -> None:
        self.joined = False
        self.counted = False
        self.closing = False
        self.bucket: TokenBucket | None = None  # made on the first client frame
        self.dropped_in_a_row = 0
        self.reset_replay()
        self.reset_deadlines()
        self.user_id: int | None = self.scope.get("user_id")
        if self.user_id is None:  # the auth middleware refuses these already
            await self.close()
            return

        await self.accept(subprotocol=self.scope.get("auth_subprotocol"))
        gc_freeze.socket_opened()  # this process holds sockets: keep full collections short
        OPEN_CONNECTIONS.inc()
        loop_lag.hold()
        self.counted = True
        query = parse_qs(self.scope.get("query_string", b"").decode("latin-1"))
        try:
            self.resume_from = protocol.parse_cursor((query.get("cursor") or [None])[0])
        except protocol.ProtocolError as exc:
            await self.send_frame(protocol.error_frame(exc.code, exc.message))
            await self.close_with(protocol.CLOSE_BAD_REQUEST, "invalid cursor")
            return

        await self.channel_layer.group_add(user_group(self.user_id), self.channel_name)
        self.joined = True
        layer_watch.watch(self.channel_layer, self)
        await self.start_replay()
        self.schedule("ping_at", settings.SYNC_PING_SECONDS)
        expires_at = self.scope.get("token_expires_at")
        if expires_at is not None:
            self.schedule("expires_at", max(0.0, expires_at - time.time()))

    async def new_channel_name(self) -> str:
        """Only group messages (the user's updates, our barrier) reach a sync socket, so with the
        sync layer its channel makes no Redis subscription of its own (`layers.py`)."""
        group_only = getattr(self.channel_layer, "new_group_only_channel", None)
        return await (group_only() if group_only is not None else self.channel_layer.new_channel())

    async def websocket_disconnect(self, message: dict[str, Any]) -> None:
        """Channels' own also runs `close_old_connections` in its thread-sensitive thread: a
        thread hop per closed socket (in a reconnect storm, about 4 % of the event loop's
        samples) for nothing, as no handler here reaches the database outside `db_reads`."""
        await self.disconnect(message["code"])
        raise StopConsumer

    async def disconnect(self, code: int) -> None:
        self.stop_timers()
        if self.joined:
            self.joined = False
            layer_watch.unwatch(self.channel_layer, self)
            await self.channel_layer.group_discard(user_group(self.user_id), self.channel_name)
        if self.counted:
            self.counted = False
            OPEN_CONNECTIONS.dec()
            loop_lag.release()
            gc_freeze.socket_closed()

    def connection_ended(self) -> None:
        self.stop_timers()  # already done on a disconnect; not when a handler failed

    # --- sending --------------------------------------------------------------------------------

    async def send_frame(self, frame: dict[str, Any]) -> None:
        if self.closing:
            return
        try:
            await self.send(text_data=json.dumps(frame, separators=(",", ":")))
        except (OSError, RuntimeError):
            # The peer is gone: uvicorn raises ClientDisconnected (an OSError) or, once the peer's
            # close frame arrived, RuntimeError. The disconnect event that follows cleans up.
            self.closing = True
            return
        FRAMES_SENT.labels(frame["type"]).inc()

    async def close_with(self, code: int, reason: str) -> None:
        if self.closing:
            return
        self.closing = True
        CONNECTIONS_CLOSED.labels(reason).inc()
        with contextlib.suppress(OSError, RuntimeError):  # the peer is gone already (see send_frame)
            await self.close(code=code, reason=reason)

    # --- client frames --------------------------------------------------------------------------

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        self.client_is_there()
        if self.bucket is None:  # most connections never send a frame
            self.bucket = TokenBucket(rate=settings.SYNC_CLIENT_RATE, capacity=settings.SYNC_CLIENT_BURST)
        if not self.bucket.take():
            # Over the limit: the frame is dropped; a client that keeps going is cut off.
            self.dropped_in_a_row += 1
            if self.dropped_in_a_row == 1:
                await self.send_frame(protocol.error_frame("rate_limited", "Too many messages; slow down."))
            elif self.dropped_in_a_row > settings.SYNC_CLIENT_BURST:
                await self.close_with(protocol.CLOSE_FLOODING, "too many messages")
            return
        self.dropped_in_a_row = 0
        try:
            message_type = protocol.parse_client_frame(text_data, bytes_data)
        except protocol.ProtocolError as exc:
            await self.send_frame(protocol.error_frame(exc.code, exc.message))
            return
        if message_type == "ping":
            await self.send_frame({"type": "pong"})
