"""Handshake admission: overload costs new handshakes, never established sockets.

A handshake is "opening" from the moment it is admitted until its socket is live (its `ready`
or `resync_required` frame is sent) or gone: that is when it costs the most (token check, group
join, barrier, replay). At most SYNC_MAX_OPENING_HANDSHAKES open at once, and none is admitted
while the event loop runs more than SYNC_MAX_LOOP_LAG_SECONDS late (`loop_lag.py`).

A handshake that finds no room waits in line, in arrival order, when the line ahead of it is
short enough to be served within QUEUE_WAIT_SECONDS at the rate this process has been opening
handshakes: a waiting handshake has cost its TCP accept and HTTP parse already and costs nothing
more, while a refused one comes back and pays them again (in a reconnect storm, refusals, their
retries and the clients' backoff would take most of the time). Otherwise it is refused at once
with HTTP 503 and `Retry-After` (the ASGI denial response; a server without it gets close 1013
"try again later"), and so is one still waiting after twice that (the rate fell): never left to
time out. Clients retry after a jittered backoff (the /live/ page: `static/sync_app/live.js`).

The consumer learns of its ticket through a context variable, which its helper task inherits,
so no per-socket scope copy is kept for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import weakref
from collections import deque
from typing import Any

from django.conf import settings

from sync_app import loop_lag
from sync_app.metrics import HANDSHAKES_REFUSED

logger = logging.getLogger(__name__)

CLOSE_TRY_AGAIN_LATER = 1013
DENIAL_EXTENSION = "websocket.http.response"
# Well inside any client's handshake timeout (browsers: none; ours: 60 s).
QUEUE_WAIT_SECONDS = 5.0
# Memory bound: a waiting handshake is a few KB.
QUEUE_LENGTH = 2000
# The opening rate is measured over windows of this length.
RATE_WINDOW_SECONDS = 1.0


class Ticket:
    """One admitted handshake's place among the opening ones; `settle()` gives it back."""

    __slots__ = ("gate",)

    def __init__(self, gate: Gate) -> None:
        self.gate: Gate | None = gate

    def settle(self) -> None:
        if self.gate is not None:
            gate, self.gate = self.gate, None
            gate.settled()


class Gate:
    """The opening and waiting handshakes of one event loop (one server process)."""

    __slots__ = ("__weakref__", "opened", "opening", "queued", "rate", "retry", "waiting", "window_at")

    def __init__(self) -> None:
        self.opening = 0
        self.opened = 0  # handshakes settled in the current rate window
        self.window_at = -1.0
        self.rate = 0.0  # handshakes settled per second lately, while some were waiting
        self.waiting: deque[asyncio.Future[bool]] = deque()  # turns, oldest first (some given up)
        self.queued = 0  # turns in `waiting` still waiting
        self.retry: asyncio.TimerHandle | None = None

    def has_room(self) -> bool:
        return (
            self.opening < settings.SYNC_MAX_OPENING_HANDSHAKES
            and loop_lag.current().lag <= settings.SYNC_MAX_LOOP_LAG_SECONDS
        )

    async def admit(self) -> Ticket | None:
        """A ticket once there is room (at once, or after waiting in line), or None: refuse."""
        if not self.queued and self.has_room():
            self.opening += 1
            return Ticket(self)
        loop = asyncio.get_running_loop()
        if self.queued >= QUEUE_LENGTH or self.queued + 1 > self.served_per_second(loop) * QUEUE_WAIT_SECONDS:
            HANDSHAKES_REFUSED.labels("queue_full").inc()
            return None
        turn: asyncio.Future[bool] = loop.create_future()
        self.waiting.append(turn)
        self.queued += 1
        # Held back by loop lag alone, with nothing opening, no settling handshake would wake the
        # line: this looks at it now and, while the lag lasts, again later.
        self.admit_waiting()
        expiry = loop.call_later(2 * QUEUE_WAIT_SECONDS, self.give_up, turn)
        try:
            admitted = await turn
        except asyncio.CancelledError:
            if turn.done() and not turn.cancelled() and turn.result():
                self.opening -= 1  # admitted, then cancelled before it could start
                self.admit_waiting()
            elif not turn.done() or turn.cancelled():  # still in line (`give_up` did not count it out)
                self.queued -= 1
            raise
        finally:
            expiry.cancel()
        if not admitted:
            full = self.opening >= settings.SYNC_MAX_OPENING_HANDSHAKES
            HANDSHAKES_REFUSED.labels("opening" if full else "loop_lag").inc()
            return None
        return Ticket(self)

    def served_per_second(self, loop: asyncio.AbstractEventLoop) -> float:
        """The rate at which waiting handshakes can expect to be let in: measured while the
        process was full, and at least SYNC_MAX_OPENING_HANDSHAKES a second (a fresh or idle
        process has not measured it yet)."""
        now = loop.time()
        if now - self.window_at >= RATE_WINDOW_SECONDS:
            if self.queued and self.window_at >= 0:
                measured = self.opened / (now - self.window_at)
                self.rate = measured if not self.rate else (self.rate + measured) / 2
            elif not self.queued:
                self.rate = 0.0
            self.window_at, self.opened = now, 0
        return max(self.rate, float(settings.SYNC_MAX_OPENING_HANDSHAKES))

    def settled(self) -> None:
        self.opening -= 1
        self.opened += 1
        self.admit_waiting()

    def give_up(self, turn: asyncio.Future[bool]) -> None:
        if not turn.done():
            self.queued -= 1
            turn.set_result(False)  # left in `waiting`; `admit_waiting` skips it

    def admit_waiting(self) -> None:
        """Give the room there is to the handshakes waiting longest."""
        while self.waiting and self.has_room():
            turn = self.waiting.popleft()
            if not turn.done():
                self.queued -= 1
                self.opening += 1
                turn.set_result(True)
        while self.waiting and self.waiting[0].done():
            self.waiting.popleft()
        if self.queued and self.retry is None and self.opening < settings.SYNC_MAX_OPENING_HANDSHAKES:
            # Held back by loop lag alone: nothing settles to wake the line, so look again later.
            self.retry = asyncio.get_running_loop().call_later(loop_lag.PROBE_SECONDS, self.retry_waiting)

    def retry_waiting(self) -> None:
        self.retry = None
        self.admit_waiting()


_gates: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Gate] = weakref.WeakKeyDictionary()
_ticket: contextvars.ContextVar[Ticket | None] = contextvars.ContextVar("sync_admission_ticket", default=None)


def settle() -> None:
    """The current connection is live (or going): it no longer counts as opening."""
    ticket = _ticket.get()
    if ticket is not None:
        ticket.settle()


async def refuse(scope: dict[str, Any], receive: Any, send: Any) -> None:
    retry_after = str(settings.SYNC_RETRY_AFTER_SECONDS)
    message = await receive()
    if message["type"] != "websocket.connect":
        return
    # A handshake refused after waiting in line may have lost its peer meanwhile: uvicorn then
    # raises ClientDisconnected (an OSError) or RuntimeError, as for `SyncConsumer.send_frame`.
    with contextlib.suppress(OSError, RuntimeError):
        if DENIAL_EXTENSION in (scope.get("extensions") or {}):
            await send(
                {
                    "type": "websocket.http.response.start",
                    "status": 503,
                    "headers": [(b"retry-after", retry_after.encode()), (b"content-type", b"text/plain")],
                }
            )
            await send({"type": "websocket.http.response.body", "body": b"Overloaded: try again later.\n"})
            return
        await send({"type": "websocket.accept"})
        await send({"type": "websocket.close", "code": CLOSE_TRY_AGAIN_LATER, "reason": "try again later"})


class HandshakeAdmission:
    """Outermost in the WebSocket stack: refuses what this process cannot serve now."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        gate = _gates.setdefault(asyncio.get_running_loop(), Gate())
        ticket = await gate.admit()
        if ticket is None:
            return await refuse(scope, receive, send)
        token = _ticket.set(ticket)
        try:
            return await self.inner(scope, receive, send)
        finally:
            ticket.settle()
            _ticket.reset(token)
