"""The `/ws/sync/` WebSocket consumer (DESIGN.md section 8; wire format in `protocol.py`).

Lossless switch from replay to live, per connection:

1. join the user's group, then send a barrier message with a fresh nonce to that group (once
   more if it is slow to come back: the pub/sub layer does not wait for Redis to confirm a
   subscription, so a group send right after joining can miss us);
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
import contextlib
import json
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qs

from channels.consumer import get_handler_name
from channels.exceptions import StopConsumer
from channels.generic.websocket import AsyncWebsocketConsumer
from channels.layers import get_channel_layer
from django.conf import settings

from core import gc_tuning
from sync_app import admission, db_reads, layer_watch, loop_lag, protocol
from sync_app.groups import user_group
from sync_app.metrics import (
    CONNECTIONS_CLOSED,
    FRAMES_SENT,
    OPEN_CONNECTIONS,
    PONG_DEADLINES_DEFERRED,
    REPLAYED_UPDATES,
)
from sync_app.models import SyncUpdate
from sync_app.selectors import sync_position, sync_resume, sync_updates_after
from sync_app.throttle import TokenBucket

logger = logging.getLogger(__name__)

REPLAY_PAGE = 500
BARRIER_TIMEOUT_SECONDS = 10.0
# Before a missed pong closes a socket: time for frames already on their way to be read, and for
# the loop-lag probe (every `loop_lag.PROBE_SECONDS`) to have seen a late loop.
PONG_SETTLE_SECONDS = 0.5


# The connection's deadlines, as (attribute holding the loop time or None, method to run),
# run in this order when several are due together.
DEADLINES = (
    ("expires_at", "expire"),
    ("barrier_at", "barrier_missing"),
    ("layer_lost_at", "layer_unavailable"),
    ("pong_at", "pong_missing"),
    ("ping_at", "ping"),
)


class SyncConsumer(AsyncWebsocketConsumer):
    """One `/ws/sync/` connection.

    Memory is the cost that scales here (thousands of idle sockets per process), so an idle
    connection holds: one extra task (channel-layer messages), one timer handle for all of its
    deadlines, and a few scalars. Buffers and the flood bucket exist only while needed.
    """

    groups = ()  # joined by hand in connect(); a tuple, so Channels allocates no list per socket

    # --- the ASGI entry point ---------------------------------------------------------------

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        """`AsyncConsumer.__call__` with one task instead of three per connection.

        Channels' `await_many_dispatch` keeps a task for each of the client and the channel layer
        plus an `asyncio.wait` per message. Here the client is read in the connection's own task
        and the layer in one helper task; a lock keeps handlers one at a time, as there. An error
        in a layer handler ends the connection as it would there: it is raised from here.
        """
        self.scope = scope
        self.channel_layer = get_channel_layer(self.channel_layer_alias)
        self.channel_name = await self.channel_layer.new_channel()
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
            self.stop_timers()  # already done on a disconnect; not when a handler failed
            layer_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await layer_task

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
        # Channels' dispatch also runs `close_old_connections` in a thread before every handler;
        # ours reach the database only through `db_reads`, which does that itself around each
        # call, so a ping or a live update costs no thread hop.
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)

    # --- connection lifecycle ---------------------------------------------------------------

    async def connect(self) -> None:
        self.joined = False
        self.counted = False
        self.closing = False
        self.live = False
        self.buffer: list[dict[str, Any]] | None = []  # updates that arrive before the barrier
        self.last_sent = 0
        self.bucket: TokenBucket | None = None  # made on the first client frame
        self.dropped_in_a_row = 0
        self.timer: asyncio.TimerHandle | None = None
        self.timer_at = 0.0
        self.timer_job: asyncio.Task[None] | None = None
        self.expires_at: float | None = None
        self.barrier_at: float | None = None
        self.barrier_sends = 0
        self.layer_lost_at: float | None = None
        self.ping_at: float | None = None
        self.pong_at: float | None = None  # set by a ping, cleared by any client frame
        self.awaiting_pong = False  # since `pinged_at`: no client frame read
        self.pinged_at = 0.0
        self.nonce = ""
        self.user_id: int | None = self.scope.get("user_id")
        if self.user_id is None:  # the auth middleware refuses these already
            await self.close()
            return

        await self.accept(subprotocol=self.scope.get("auth_subprotocol"))
        gc_tuning.socket_opened()  # this process holds sockets: keep full collections short
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
        self.nonce = uuid.uuid4().hex
        await self.send_barrier()
        self.schedule("ping_at", settings.SYNC_PING_SECONDS)
        expires_at = self.scope.get("token_expires_at")
        if expires_at is not None:
            self.schedule("expires_at", max(0.0, expires_at - time.time()))

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
            gc_tuning.socket_closed()

    # --- channel-layer messages -----------------------------------------------------------

    async def sync_barrier(self, message: dict[str, Any]) -> None:
        """Our subscription is live: replay from the store, flush the buffer, go live."""
        if self.live or message.get("nonce") != self.nonce:
            return  # another connection of the same user is starting
        self.barrier_at = None  # its timer may still fire; it finds nothing due
        replayed = await self.replay()
        self.live = True
        buffered, self.buffer = self.buffer or [], None
        for update in buffered:
            await self.deliver(update)
        await self.send_frame({"type": "ready", "cursor": str(self.last_sent), "replayed": replayed})
        admission.settle()  # live: no longer an opening handshake

    async def sync_update(self, message: dict[str, Any]) -> None:
        if not self.live:
            self.buffer.append(message)  # a list until live
            return
        await self.deliver(message)

    # --- replay and delivery --------------------------------------------------------------

    async def replay(self) -> int:
        """Send what the client missed since `?cursor=`; returns how many updates were sent."""
        if self.resume_from is None:
            self.last_sent = await db_reads.read(sync_position, user_id=self.user_id)
            return 0
        page = await db_reads.read(sync_resume, user_id=self.user_id, cursor=self.resume_from, limit=REPLAY_PAGE)
        if page is None:  # not resumable, or pruned while we read
            await self.resync()
            return 0
        self.last_sent = self.resume_from
        sent = 0
        while True:
            for row in page:
                await self.send_stored(row)
            sent += len(page)
            if len(page) < REPLAY_PAGE:
                return sent
            page = await db_reads.read(
                sync_updates_after, user_id=self.user_id, after=self.last_sent, limit=REPLAY_PAGE
            )
            if page is None:  # pruned while we read
                await self.resync()
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
            page = await db_reads.read(
                sync_updates_after, user_id=self.user_id, after=self.last_sent, upto=upto, limit=REPLAY_PAGE
            )
            if page is None:
                await self.resync()
                return
            if not page:  # `upto` is committed before it is sent, so this means it was pruned
                return
            for row in page:
                await self.send_stored(row)

    async def resync(self) -> None:
        self.last_sent = await db_reads.read(sync_position, user_id=self.user_id)
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
        with contextlib.suppress(OSError, RuntimeError):  # the peer is gone already (see send_frame)
            await self.close(code=code, reason=reason)

    # --- client frames ----------------------------------------------------------------------

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        # Any frame shows the client is there (the pong timer then finds nothing due).
        self.pong_at = None
        self.awaiting_pong = False
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

    # --- timers ---------------------------------------------------------------------------------

    def stop_timers(self) -> None:
        self.closing = True  # nothing more is sent, and no timer is armed again
        timer, job = getattr(self, "timer", None), getattr(self, "timer_job", None)
        if timer is not None:
            timer.cancel()
            self.timer = None
        if job is not None:
            job.cancel()

    def schedule(self, deadline: str, delay: float) -> None:
        """Set one of the `DEADLINES` to `delay` seconds from now."""
        setattr(self, deadline, asyncio.get_running_loop().time() + delay)
        self.arm()

    def arm(self) -> None:
        """Arm the connection's single timer for its earliest deadline. One timer handle per
        connection, not one per deadline nor a sleeping task: with thousands of idle connections
        per process, each costs memory. A deadline cleared early (set to None) leaves the timer
        armed; it then fires, finds nothing due and re-arms."""
        deadlines = [at for at in (getattr(self, name) for name, _ in DEADLINES) if at is not None]
        if not deadlines or self.closing:
            return
        due = min(deadlines)
        if self.timer is not None:
            if self.timer_at <= due:
                return
            self.timer.cancel()
        self.timer_at = due
        self.timer = asyncio.get_running_loop().call_at(due, self.on_timer)

    def on_timer(self) -> None:
        self.timer = None
        if self.timer_job is None:
            self.timer_job = asyncio.get_running_loop().create_task(self.run_due())
        # else the running job looks for due deadlines again before it ends

    async def run_due(self) -> None:
        """Run the deadlines that are due, one at a time, in `DEADLINES` order; then re-arm."""
        try:
            while job := self.take_due():
                await job()
        finally:
            self.timer_job = None
            self.arm()

    def take_due(self) -> Callable[[], Awaitable[None]] | None:
        now = asyncio.get_running_loop().time()
        for name, method in DEADLINES:
            at = getattr(self, name)
            if at is not None and at <= now:
                setattr(self, name, None)
                return getattr(self, method)
        return None

    async def ping(self) -> None:
        await self.send_frame({"type": "ping"})
        if not self.awaiting_pong:
            self.awaiting_pong = True
            self.pinged_at = asyncio.get_running_loop().time()
            self.schedule("pong_at", settings.SYNC_PONG_TIMEOUT_SECONDS)
        self.schedule("ping_at", settings.SYNC_PING_SECONDS)

    def layer_lost(self) -> None:
        """The process's channel layer stopped delivering (`layer_watch`)."""
        self.schedule("layer_lost_at", 0.0)

    async def pong_missing(self) -> None:
        """The client answered no ping: the peer is gone (a half-open TCP connection) or does not
        speak the protocol. With no WebSocket-level keepalive (uvicorn's websockets-sansio sends
        no pings), this is what frees such a socket.

        Unless the server was late in reading: the SYNC_PONG_TIMEOUT_SECONDS count from the ping
        or from the last moment this process's loop ran late (`loop_lag`), whichever is later,
        and frames this socket already received are handled first. Under overload an answered
        ping is never taken for a silent client."""
        loop = asyncio.get_running_loop()
        started = loop.time()
        await asyncio.sleep(PONG_SETTLE_SECONDS)
        async with self.handling:  # a frame read while a handler ran goes first (the lock is FIFO)
            pass
        if not self.awaiting_pong or self.closing:
            return
        now = loop.time()
        restart = max(self.pinged_at, loop_lag.current().late_at)
        if now - started > PONG_SETTLE_SECONDS + settings.SYNC_MAX_LOOP_LAG_SECONDS:
            restart = now  # this socket's own handler (or the loop) kept us from reading
        if restart + settings.SYNC_PONG_TIMEOUT_SECONDS > now:
            PONG_DEADLINES_DEFERRED.inc()
            self.schedule("pong_at", restart + settings.SYNC_PONG_TIMEOUT_SECONDS - now)
            return
        await self.close_with(protocol.CLOSE_NO_PONG, "no pong")

    async def layer_unavailable(self) -> None:
        await self.close_with(protocol.CLOSE_UNAVAILABLE, "sync unavailable")

    async def expire(self) -> None:
        await self.send_frame(protocol.error_frame("token_expired", "The access token has expired."))
        await self.close_with(protocol.CLOSE_TOKEN_EXPIRED, "token expired")

    async def send_barrier(self) -> None:
        """Send our barrier. If it has not come back after half of BARRIER_TIMEOUT_SECONDS, it is
        sent once more: lost when sent before the subscription was live, it then arrives; only
        slow, a second one costs a loaded layer little (more would feed the overload)."""
        self.barrier_sends += 1
        self.schedule("barrier_at", BARRIER_TIMEOUT_SECONDS / 2)
        await self.channel_layer.group_send(
            user_group(self.user_id), {"type": protocol.LAYER_BARRIER, "nonce": self.nonce}
        )

    async def barrier_missing(self) -> None:
        if self.barrier_sends == 1:
            await self.send_barrier()
            return
        # Our own group message never came back: the channel layer is not delivering.
        logger.error("sync barrier for user %s not received; closing", self.user_id)
        await self.close_with(protocol.CLOSE_UNAVAILABLE, "sync unavailable")
