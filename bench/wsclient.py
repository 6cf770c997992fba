"""One WebSocket client process of the scale scenario: holds many authenticated connections.

    python -m bench.wsclient --url ws://127.0.0.1:PORT/ws/sync/ --tokens tokens.json \
        --ready ready.json --out out.json [--wait-ready] [--max-seconds 600]

Connects every (user id, token) of the tokens file (a bounded number of handshakes in flight),
waits for each connection's `ready` frame when asked, writes the ready file, then records every
update frame: latency from the time stamped in the task title by the publisher
(`bench|<user id>|<time_ns>`), and whether it reached the user it was meant for. On SIGUSR1 or
SIGTERM, or after --max-seconds, it writes the out file and exits.

`open_all` is also the socket side of `bench.userload` (scenario 10), which hands every task
frame to a callback of its own instead of reading a time stamp from the title.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from websockets.asyncio.client import ClientConnection, connect


class Stats:
    def __init__(self) -> None:
        self.latencies_ms: list[float] = []
        self.misdelivered = 0
        self.frames = 0
        self.closed = 0
        self.failed: list[str] = []


# Called with (the socket's user id, the task frame, its arrival time in ns).
OnUpdate = Callable[[int, dict[str, Any], int], None]


async def _hold(
    ws: ClientConnection, user_id: int, stats: Stats, ready: asyncio.Event | None, on_update: OnUpdate | None
) -> None:
    try:
        async for message in ws:
            stats.frames += 1
            frame = json.loads(message)
            kind = frame.get("type", "")
            if kind == "ping":
                await ws.send('{"type": "pong"}')  # as the protocol asks (sync_app/protocol.py)
            elif kind == "ready" and ready is not None:
                ready.set()
            elif kind.startswith("task.") and on_update is not None:
                on_update(user_id, frame, time.time_ns())
            elif kind.startswith("task."):
                _, owner, sent_ns = frame["task"]["title"].split("|")
                if int(owner) != user_id:
                    stats.misdelivered += 1
                stats.latencies_ms.append((time.time_ns() - int(sent_ns)) / 1e6)
    except Exception as exc:  # noqa: BLE001 - a dropped connection is counted, not fatal
        stats.failed.append(f"dropped: {type(exc).__name__}: {exc}"[:200])
    stats.closed += 1


async def _open(
    url: str,
    origin: str,
    user_id: int,
    token: str,
    stats: Stats,
    wait_ready: bool,
    gate: asyncio.Semaphore,
    on_update: OnUpdate | None,
) -> tuple[ClientConnection, asyncio.Task[None]] | None:
    async with gate:
        try:
            # The token as the `bearer.` subprotocol (what browsers use), not in the URL, which
            # uvicorn logs with every handshake.
            ws = await connect(
                url,
                subprotocols=[f"bearer.{token}"],
                origin=origin,
                compression=None,
                open_timeout=120,
                ping_interval=None,
                close_timeout=1,
                max_queue=8,
            )
        except Exception as exc:  # noqa: BLE001 - reported in the out file
            stats.failed.append(f"{type(exc).__name__}: {exc}"[:200])
            return None
        ready = asyncio.Event() if wait_ready else None
        task = asyncio.get_running_loop().create_task(_hold(ws, user_id, stats, ready, on_update))
        if ready is not None:
            try:
                await asyncio.wait_for(ready.wait(), 120)
            except TimeoutError:
                stats.failed.append("no ready frame within 120 s")
        return ws, task


async def open_all(
    url: str,
    pairs: list[list[Any]],
    stats: Stats,
    *,
    concurrency: int,
    wait_ready: bool,
    on_update: OnUpdate | None = None,
) -> list[tuple[ClientConnection, asyncio.Task[None]]]:
    """A socket per (user id, token), at most `concurrency` handshakes in flight; the ones that
    opened (failures are in `stats.failed`)."""
    origin = "http://" + url.split("//", 1)[1].split("/", 1)[0]
    gate = asyncio.Semaphore(concurrency)
    opened = await asyncio.gather(
        *(_open(url, origin, int(uid), token, stats, wait_ready, gate, on_update) for uid, token in pairs)
    )
    return [item for item in opened if item is not None]


async def main_async(args: argparse.Namespace) -> None:
    pairs: list[list[Any]] = json.loads(Path(args.tokens).read_text())
    stats = Stats()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGUSR1, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    started = time.monotonic()
    connections = await open_all(args.url, pairs, stats, concurrency=args.concurrency, wait_ready=args.wait_ready)
    Path(args.ready).write_text(
        json.dumps({"connected": len(connections), "failed": len(stats.failed), "seconds": time.monotonic() - started})
    )
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), args.max_seconds)
    Path(args.out).write_text(
        json.dumps(
            {
                "connected": len(connections),
                "failed": stats.failed[:20],
                "failed_count": len(stats.failed),
                "closed_early": stats.closed,
                "frames": stats.frames,
                "misdelivered": stats.misdelivered,
                "latencies_ms": stats.latencies_ms,
            }
        )
    )
    os._exit(0)  # thousands of closing handshakes would only slow the run down; the server copes


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--tokens", required=True)
    parser.add_argument("--ready", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--wait-ready", action="store_true")
    parser.add_argument("--max-seconds", type=float, default=600)
    args = parser.parse_args()
    try:
        import uvloop

        uvloop.run(main_async(args))
    except ImportError:  # pragma: no cover
        asyncio.run(main_async(args))


if __name__ == "__main__":
    main()
