"""Reconnect-storm clients: sockets that behave as the /live/ page does (sync_app/static/sync_app/
live.js). Each answers every `ping`, remembers the last cursor, and after a refused handshake
(503, close 1013), a timeout or a close reconnects with that cursor after a full-jitter
exponential backoff. Used by the fault test of part 1 of issue 26 and by bench scenario 8.

`Storm.run(pairs, ...)` in a thread of its own (its own event loop); the caller publishes
updates meanwhile and reads the figures when `stop()` returns.
"""

from __future__ import annotations

import asyncio
import json
import random
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

BACKOFF_BASE_SECONDS = 1.0  # as live.js
BACKOFF_MAX_SECONDS = 30.0
OPEN_TIMEOUT_SECONDS = 60.0  # a handshake not answered by then counts as timed out


@dataclass
class Sock:
    user_id: int
    token: str
    cursor: str | None = None
    live: bool = False
    live_since: float | None = None  # loop time it last became live
    received: set[str] = field(default_factory=set)
    ws: Any = None
    reopen_in: float | None = None  # set by `Storm.reconnect`: closed by us, reopened after this


@dataclass
class Figures:
    answered_s: list[float] = field(default_factory=list)  # handshakes accepted: time to HTTP 101
    refused_s: list[float] = field(default_factory=list)  # handshakes refused (503): time to the answer
    timed_out: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    closed_live: Counter[int] = field(default_factory=Counter)  # server closes of live sockets, by code
    closed_opening: Counter[int] = field(default_factory=Counter)  # accepted, then closed before `ready`
    resyncs: int = 0
    pongs: int = 0


def backoff(attempt: int) -> float:
    return random.uniform(0, min(BACKOFF_MAX_SECONDS, BACKOFF_BASE_SECONDS * 2**attempt))


class Storm:
    def __init__(self, url: str) -> None:
        self.url = url
        self.origin = "http://" + url.split("//", 1)[1].split("/", 1)[0]
        self.socks: list[Sock] = []
        self.figures = Figures()
        self.loop: asyncio.AbstractEventLoop | None = None
        self.stopping: asyncio.Event | None = None
        self.thread: threading.Thread | None = None
        self.tasks: list[asyncio.Task[None]] = []

    # --- from the caller's thread -----------------------------------------------------------

    def start(self) -> None:
        started = threading.Event()

        def main() -> None:
            self.loop = asyncio.new_event_loop()
            self.stopping = asyncio.Event()
            started.set()
            self.loop.run_forever()

        self.thread = threading.Thread(target=main, name="storm", daemon=True)
        self.thread.start()
        started.wait()

    def open(self, pairs: list[tuple[int, str]], *, spread_seconds: float) -> list[Sock]:
        """Open a socket per (user id, token), first attempts spread uniformly over the given
        seconds (0: all at once)."""
        socks = [Sock(user_id, token) for user_id, token in pairs]
        self.socks += socks

        def schedule() -> None:
            for sock in socks:
                self.tasks.append(self.loop.create_task(self.keep(sock, random.uniform(0, spread_seconds))))

        self.loop.call_soon_threadsafe(schedule)
        return socks

    def reconnect(self, socks: list[Sock], *, spread_seconds: float) -> None:
        """A web restart as its clients see it: close these sockets from our side; each reopens
        with its cursor after a uniform draw over the given seconds."""

        def schedule() -> None:
            for sock in socks:
                sock.reopen_in = random.uniform(0, spread_seconds)
                sock.live = False  # from now on: `live_count()` counts only the sockets back
                if sock.ws is not None:
                    self.loop.create_task(sock.ws.close())

        self.loop.call_soon_threadsafe(schedule)

    def live_count(self, socks: list[Sock] | None = None) -> int:
        return sum(sock.live for sock in (socks if socks is not None else self.socks))

    def stop(self) -> None:
        async def stopping() -> None:
            self.stopping.set()
            for task in self.tasks:
                task.cancel()
            await asyncio.gather(*self.tasks, return_exceptions=True)

        asyncio.run_coroutine_threadsafe(stopping(), self.loop).result(timeout=60)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)

    # --- in the storm's loop ----------------------------------------------------------------

    async def keep(self, sock: Sock, delay: float) -> None:
        loop = asyncio.get_running_loop()
        await asyncio.sleep(delay)
        attempt = 0
        while not self.stopping.is_set():
            query = f"?cursor={sock.cursor}" if sock.cursor else ""
            started = loop.time()
            try:
                ws = await connect(
                    self.url + query,
                    subprotocols=[f"bearer.{sock.token}"],
                    origin=self.origin,
                    compression=None,
                    open_timeout=OPEN_TIMEOUT_SECONDS,
                    ping_interval=None,
                    close_timeout=1,
                )
            except InvalidStatus as exc:
                status = exc.response.status_code
                if status == 503:
                    self.figures.refused_s.append(loop.time() - started)
                    attempt = max(attempt, 2)  # as live.js does for an overloaded server
                else:
                    self.figures.errors[f"HTTP {status}"] += 1
            except TimeoutError:
                self.figures.timed_out += 1
            except OSError as exc:
                self.figures.errors[type(exc).__name__] += 1
            else:
                self.figures.answered_s.append(loop.time() - started)
                sock.ws = ws
                code = await self.hold(sock, ws)
                sock.ws = None
                if sock.reopen_in is not None:
                    delay, sock.reopen_in, sock.live, attempt = sock.reopen_in, None, False, 0
                    await asyncio.sleep(delay)
                    continue
                if code is not None and not self.stopping.is_set():
                    (self.figures.closed_live if sock.live else self.figures.closed_opening)[code] += 1
                if sock.live:
                    attempt = 0
                sock.live = False
                if code == 1013:
                    attempt = max(attempt, 2)
            attempt += 1
            await asyncio.sleep(backoff(attempt))

    async def hold(self, sock: Sock, ws: Any) -> int | None:
        try:
            async for raw in ws:
                frame = json.loads(raw)
                kind = frame.get("type", "")
                if kind == "ping":
                    await ws.send('{"type": "pong"}')
                    self.figures.pongs += 1
                elif kind == "ready":
                    sock.cursor = frame["cursor"]
                    sock.live = True
                    sock.live_since = asyncio.get_running_loop().time()
                elif kind == "resync_required":
                    sock.cursor = frame["cursor"]
                    self.figures.resyncs += 1
                elif kind.startswith("task."):
                    sock.received.add(frame["event_id"])
                    sock.cursor = frame["cursor"]
        except ConnectionClosed:
            pass
        return ws.close_code


def wait_for(predicate: Any, timeout: float, interval: float = 0.2) -> float | None:
    """Seconds until `predicate()` held, or None if it did not within `timeout`."""
    started = time.monotonic()
    while time.monotonic() - started <= timeout:
        if predicate():
            return time.monotonic() - started
        time.sleep(interval)
    return None
