"""Handshake admission: overload costs new handshakes, never established sockets.

A handshake is "opening" from the moment it reaches this process until its socket is live (its
`ready` or `resync_required` frame is sent) or gone: that is when it costs the most (token
check, group join, barrier, replay). Past SYNC_MAX_OPENING_HANDSHAKES opening at once, or while
the event loop runs more than SYNC_MAX_LOOP_LAG_SECONDS late (`loop_lag.py`), a new handshake
is refused at once with HTTP 503 and `Retry-After` (the ASGI denial response; a server without
it gets close 1013 "try again later"), never left to time out. Clients retry after a jittered
backoff (the /live/ page: `static/sync_app/live.js`).

The consumer learns of its ticket through a context variable, which its helper task inherits,
so no per-socket scope copy is kept for it.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import weakref
from typing import Any

from django.conf import settings

from sync_app import loop_lag
from sync_app.metrics import HANDSHAKES_REFUSED

logger = logging.getLogger(__name__)

CLOSE_TRY_AGAIN_LATER = 1013
DENIAL_EXTENSION = "websocket.http.response"


class Ticket:
    """One admitted handshake's place among the opening ones; `settle()` gives it back."""

    __slots__ = ("gate",)

    def __init__(self, gate: Gate) -> None:
        self.gate: Gate | None = gate

    def settle(self) -> None:
        if self.gate is not None:
            self.gate.opening -= 1
            self.gate = None


class Gate:
    """The opening handshakes of one event loop (one server process)."""

    __slots__ = ("__weakref__", "opening")

    def __init__(self) -> None:
        self.opening = 0

    def admit(self) -> Ticket | None:
        if self.opening >= settings.SYNC_MAX_OPENING_HANDSHAKES:
            HANDSHAKES_REFUSED.labels("opening").inc()
            return None
        if loop_lag.current().lag > settings.SYNC_MAX_LOOP_LAG_SECONDS:
            HANDSHAKES_REFUSED.labels("loop_lag").inc()
            return None
        self.opening += 1
        return Ticket(self)


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
        ticket = gate.admit()
        if ticket is None:
            return await refuse(scope, receive, send)
        token = _ticket.set(ticket)
        try:
            return await self.inner(scope, receive, send)
        finally:
            ticket.settle()
            _ticket.reset(token)
