"""A sync connection's deadlines on one timer: keepalive pings and pong deadlines, barrier
resends, token expiry and a lost channel layer.

One timer handle per connection, not one per deadline nor a sleeping task: with thousands of
idle connections per process, each costs memory. A deadline cleared early (set to None) leaves
the timer armed; it then fires, finds nothing due and re-arms.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from django.conf import settings

from sync_app import loop_lag, protocol
from sync_app.metrics import PONG_DEADLINES_DEFERRED

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


class Deadlines:
    """The deadline half of `SyncConsumer`: `schedule()` one of `DEADLINES`, and what each runs
    (`barrier_missing` is the replay's, `send_frame`, `close_with` and `handling` the consumer's)."""

    closing: bool
    handling: asyncio.Lock
    send_frame: Callable[[dict], Awaitable[None]]
    close_with: Callable[[int, str], Awaitable[None]]

    def reset_deadlines(self) -> None:
        self.timer: asyncio.TimerHandle | None = None
        self.timer_at = 0.0
        self.timer_job: asyncio.Task[None] | None = None
        self.expires_at: float | None = None
        self.barrier_at: float | None = None
        self.layer_lost_at: float | None = None
        self.ping_at: float | None = None
        self.pong_at: float | None = None  # set by a ping, cleared by any client frame
        self.awaiting_pong = False  # since `pinged_at`: no client frame read
        self.pinged_at = 0.0

    def client_is_there(self) -> None:
        """A client frame was read: the pong timer then finds nothing due."""
        self.pong_at = None
        self.awaiting_pong = False

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
        """Arm the connection's single timer for its earliest deadline."""
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

    # --- what the deadlines run -----------------------------------------------------------------

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
