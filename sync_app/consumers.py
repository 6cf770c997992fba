"""The `/ws/sync/` WebSocket consumer (DESIGN.md section 8; wire format in `protocol.py`).

Lossless switch from replay to live, per connection:

1. join the user's group, then send a barrier message with a fresh nonce to that group;
2. until our own barrier comes back, updates from the group are buffered (once it is back, the
   Redis subscription is live, so anything committed after the next read reaches us);
3. replay from the store everything after the client's cursor, in cursor order;
4. flush the buffer, skipping cursors already sent, and go live.

Live, an update whose `prev_cursor` is above the last cursor sent means one was missed (two
writers published out of order, or a send failed): the gap is read from the store first. So the
client sees each of its updates once, in cursor order, with no gap.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings

from sync_app import protocol
from sync_app.groups import user_group
from sync_app.metrics import CONNECTIONS_CLOSED, FRAMES_SENT, OPEN_CONNECTIONS, REPLAYED_UPDATES
from sync_app.models import SyncUpdate
from sync_app.selectors import sync_cursor_is_resumable, sync_position, sync_updates_after
from sync_app.throttle import TokenBucket

logger = logging.getLogger(__name__)

REPLAY_PAGE = 500
BARRIER_TIMEOUT_SECONDS = 10.0


class SyncConsumer(AsyncWebsocketConsumer):
    async def connect(self) -> None:
        self.joined = False
        self.counted = False
        self.closing = False
        self.live = False
        self.buffer: list[dict[str, Any]] = []
        self.last_sent = 0
        self.barrier_seen = False
        self.timers: dict[str, asyncio.TimerHandle] = {}
        self.running: set[asyncio.Task[None]] = set()
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:  # the auth middleware refuses these already
            await self.close()
            return
        self.user_id = user.pk
        self.group = user_group(user.pk)
        self.bucket = TokenBucket(rate=settings.SYNC_CLIENT_RATE, capacity=settings.SYNC_CLIENT_BURST)
        self.dropped_in_a_row = 0

        await self.accept(subprotocol=self.scope.get("auth_subprotocol"))
        OPEN_CONNECTIONS.inc()
        self.counted = True
        query = parse_qs(self.scope.get("query_string", b"").decode("latin-1"))
        try:
            self.resume_from = protocol.parse_cursor((query.get("cursor") or [None])[0])
        except protocol.ProtocolError as exc:
            await self.send_frame(protocol.error_frame(exc.code, exc.message))
            await self.close_with(protocol.CLOSE_BAD_REQUEST, "invalid cursor")
            return

        await self.channel_layer.group_add(self.group, self.channel_name)
        self.joined = True
        self.nonce = uuid.uuid4().hex
        await self.channel_layer.group_send(self.group, {"type": protocol.LAYER_BARRIER, "nonce": self.nonce})
        self.schedule("barrier", BARRIER_TIMEOUT_SECONDS, self.barrier_missing)
        self.schedule("ping", settings.SYNC_PING_SECONDS, self.ping)
        expires_at = self.scope.get("token_expires_at")
        if expires_at is not None:
            self.schedule("expiry", max(0.0, expires_at - time.time()), self.expire)

    async def disconnect(self, code: int) -> None:
        for timer in self.timers.values():
            timer.cancel()
        for task in list(self.running):
            task.cancel()
        if self.joined:
            self.joined = False
            await self.channel_layer.group_discard(self.group, self.channel_name)
        if self.counted:
            self.counted = False
            OPEN_CONNECTIONS.dec()

    # --- channel-layer messages -----------------------------------------------------------

    async def sync_barrier(self, message: dict[str, Any]) -> None:
        """Our subscription is live: replay from the store, flush the buffer, go live."""
        if self.live or message.get("nonce") != self.nonce:
            return  # another connection of the same user is starting
        self.barrier_seen = True
        self.timers.pop("barrier").cancel()
        replayed = await self.replay()
        self.live = True
        buffered, self.buffer = self.buffer, []
        for update in buffered:
            await self.deliver(update)
        await self.send_frame({"type": "ready", "cursor": str(self.last_sent), "replayed": replayed})

    async def sync_update(self, message: dict[str, Any]) -> None:
        if not self.live:
            self.buffer.append(message)
            return
        await self.deliver(message)

    # --- replay and delivery --------------------------------------------------------------

    async def replay(self) -> int:
        """Send what the client missed since `?cursor=`; returns how many updates were sent."""
        if self.resume_from is None:
            self.last_sent = await database_sync_to_async(sync_position)(user_id=self.user_id)
            return 0
        resumable = await database_sync_to_async(sync_cursor_is_resumable)(
            user_id=self.user_id, cursor=self.resume_from
        )
        if not resumable:
            await self.resync()
            return 0
        self.last_sent = self.resume_from
        sent = 0
        while True:
            page = await database_sync_to_async(sync_updates_after)(
                user_id=self.user_id, after=self.last_sent, limit=REPLAY_PAGE
            )
            if page is None:  # pruned while we read
                await self.resync()
                return sent
            for row in page:
                await self.send_stored(row)
            sent += len(page)
            if len(page) < REPLAY_PAGE:
                return sent

    async def deliver(self, message: dict[str, Any]) -> None:
        cursor = message["cursor"]
        if cursor <= self.last_sent:
            return  # already sent (replayed, or a redelivery)
        if (message.get("prev_cursor") or 0) > self.last_sent:
            await self.fill_gap(upto=cursor)
            return
        await self.send_update(
            cursor=cursor, event_id=message["event_id"], event_type=message["event_type"], task=message["task"]
        )

    async def fill_gap(self, *, upto: int) -> None:
        while self.last_sent < upto:
            page = await database_sync_to_async(sync_updates_after)(
                user_id=self.user_id, after=self.last_sent, upto=upto, limit=REPLAY_PAGE
            )
            if page is None:
                await self.resync()
                return
            if not page:  # `upto` is committed before it is sent, so this means it was pruned
                return
            for row in page:
                await self.send_stored(row)

    async def resync(self) -> None:
        self.last_sent = await database_sync_to_async(sync_position)(user_id=self.user_id)
        await self.send_frame({"type": "resync_required", "cursor": str(self.last_sent)})

    async def send_stored(self, row: SyncUpdate) -> None:
        REPLAYED_UPDATES.inc()
        await self.send_update(cursor=row.cursor, event_id=str(row.event_id), event_type=row.type, task=row.task)

    async def send_update(self, *, cursor: int, event_id: str, event_type: str, task: dict[str, Any]) -> None:
        self.last_sent = cursor
        await self.send_frame(protocol.update_frame(cursor=cursor, event_id=event_id, event_type=event_type, task=task))

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
        await self.close(code=code, reason=reason)

    # --- client frames ----------------------------------------------------------------------

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
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

    # --- timers ---------------------------------------------------------------------------------

    def schedule(self, name: str, delay: float, job: Callable[[], Awaitable[None]]) -> None:
        """Run `job` in `delay` seconds. A timer handle, not a sleeping task: with thousands of
        idle connections per process, each sleeping coroutine would cost kilobytes."""
        loop = asyncio.get_running_loop()

        def fire() -> None:
            self.timers.pop(name, None)
            task = loop.create_task(job())
            self.running.add(task)
            task.add_done_callback(self.running.discard)

        self.timers[name] = loop.call_later(delay, fire)

    async def ping(self) -> None:
        await self.send_frame({"type": "ping"})
        if not self.closing:
            await self.check_layer()
            self.schedule("ping", settings.SYNC_PING_SECONDS, self.ping)

    async def check_layer(self) -> None:
        """Send ourselves a heartbeat through the channel layer with every ping.

        The layer can lose our subscription without telling us (a Redis restart): the socket would
        stay open and silent. If the heartbeat does not come back, close with 1011 so the client
        resumes with its cursor; nothing is lost, every update is in the store.
        """
        if "heartbeat" in self.timers:
            return  # the previous heartbeat is still on its way
        self.heartbeat_nonce = uuid.uuid4().hex
        try:
            await self.channel_layer.send(
                self.channel_name, {"type": protocol.LAYER_HEARTBEAT, "nonce": self.heartbeat_nonce}
            )
        except Exception:  # noqa: BLE001 - any layer failure means the same: resume elsewhere
            logger.warning("sync layer heartbeat could not be sent for user %s; closing", self.user_id)
            await self.close_with(protocol.CLOSE_UNAVAILABLE, "sync unavailable")
            return
        self.schedule("heartbeat", BARRIER_TIMEOUT_SECONDS, self.heartbeat_missing)

    async def sync_heartbeat(self, message: dict[str, Any]) -> None:
        if message.get("nonce") == getattr(self, "heartbeat_nonce", None) and "heartbeat" in self.timers:
            self.timers.pop("heartbeat").cancel()

    async def heartbeat_missing(self) -> None:
        self.timers.pop("heartbeat", None)
        logger.error("sync layer heartbeat for user %s not received; closing", self.user_id)
        await self.close_with(protocol.CLOSE_UNAVAILABLE, "sync unavailable")

    async def expire(self) -> None:
        await self.send_frame(protocol.error_frame("token_expired", "The access token has expired."))
        await self.close_with(protocol.CLOSE_TOKEN_EXPIRED, "token expired")

    async def barrier_missing(self) -> None:
        # Our own group message never came back: the channel layer is not delivering.
        if not self.barrier_seen:
            logger.error("sync barrier for user %s not received; closing", self.user_id)
            await self.close_with(protocol.CLOSE_UNAVAILABLE, "sync unavailable")
