"""The sync sockets' database reads, in a small thread pool of their own.

Every handshake reads the database twice (the token's user, then the client's position or its
replay), and Channels' `database_sync_to_async` runs all of them in the one thread-sensitive
thread it shares with the rest of the process. Each read there is a pool checkout with its
health check and a query: two PostgreSQL round trips, one after another for the whole process.
In a reconnect storm that thread, waiting on PostgreSQL, bounds how many handshakes a process
opens per second, while its CPU is idle. The reads hold no transaction across calls, so a few
threads can wait on PostgreSQL side by side.

THREADS stays well under the web process's connection pool (DATABASE_POOL_MAX_SIZE, 10 as
deployed): HTTP requests draw on the same pool.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from channels.db import DatabaseSyncToAsync

T = TypeVar("T")

THREADS = 4

_executor: ThreadPoolExecutor | None = None
_lock = threading.Lock()


def _pool() -> ThreadPoolExecutor:
    global _executor  # one pool per process, made on first use
    with _lock:
        if _executor is None:
            _executor = ThreadPoolExecutor(max_workers=THREADS, thread_name_prefix="sync-db")
        return _executor


async def read(func: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
    """`func(*args, **kwargs)` in the read pool, with Channels' connection clean-up around it."""
    return await DatabaseSyncToAsync(func, thread_sensitive=False, executor=_pool())(*args, **kwargs)
