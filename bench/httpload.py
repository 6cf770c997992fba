"""A small closed-loop HTTP/1.1 load generator: `concurrency` keep-alive connections, each sending
its next request when the previous answer is read, until the deadline.

Hand-written on asyncio streams so the client costs little CPU next to the server (an httpx or
requests client would be the bottleneck on 2 cores and flatten the ratios).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass
class LoadResult:
    seconds: float
    latencies_ms: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)

    @property
    def ok(self) -> int:
        return sum(count for status, count in self.statuses.items() if 200 <= status < 300)

    @property
    def throughput(self) -> float:
        return self.ok / self.seconds if self.seconds else 0.0


def request_bytes(method: str, path: str, *, port: int, token: str, body: Any = None) -> bytes:
    payload = b"" if body is None else json.dumps(body).encode()
    head = (
        f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: Bearer {token}\r\n"
        f"Accept: application/json\r\nContent-Type: application/json\r\nContent-Length: {len(payload)}\r\n\r\n"
    )
    return head.encode() + payload


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            name, value = line.split(":", 1)
            headers[name.strip().lower()] = value.strip()
    if "content-length" in headers:
        return status, await reader.readexactly(int(headers["content-length"]))
    if headers.get("transfer-encoding") == "chunked":
        body = b""
        while True:
            size = int((await reader.readuntil(b"\r\n")).strip(), 16)
            chunk = await reader.readexactly(size + 2)
            if size == 0:
                return status, body
            body += chunk[:-2]
    return status, b""


async def _worker(
    port: int, make: Callable[[int], bytes], deadline: float, result: LoadResult, index: int, interval: float = 0.0
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    sequence = 0
    next_at = time.monotonic()
    try:
        while time.monotonic() < deadline:
            if interval:
                # Paced: one request per `interval`; a late answer delays the next one, and the
                # missed slots are dropped, not sent in a burst.
                await asyncio.sleep(max(0.0, next_at - time.monotonic()))
                next_at = max(next_at + interval, time.monotonic())
            request = make(index * 1_000_000 + sequence)
            sequence += 1
            started = time.perf_counter()
            writer.write(request)
            status, _ = await _read_response(reader)
            result.latencies_ms.append((time.perf_counter() - started) * 1000)
            result.statuses[status] = result.statuses.get(status, 0) + 1
    finally:
        writer.close()


async def _run(port: int, makers: list[Callable[[int], bytes]], seconds: float, rate: float = 0.0) -> LoadResult:
    result = LoadResult(seconds=seconds)
    started = time.monotonic()
    deadline = started + seconds
    interval = len(makers) / rate if rate else 0.0
    await asyncio.gather(*(_worker(port, make, deadline, result, i, interval) for i, make in enumerate(makers)))
    result.seconds = time.monotonic() - started
    return result


def run_load(port: int, makers: list[Callable[[int], bytes]], seconds: float, rate: float = 0.0) -> LoadResult:
    """One connection per entry of `makers` (a function of a sequence number giving the request).
    Closed loop as fast as the server answers; with `rate`, at most that many requests per
    second in all (background load of a fixed size)."""
    try:
        import uvloop

        runner = uvloop.run
    except ImportError:  # pragma: no cover - uvloop comes with uvicorn[standard]
        runner = asyncio.run
    return runner(_run(port, makers, seconds, rate))
