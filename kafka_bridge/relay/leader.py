"""Relay leadership: one publishing relay at a time, held as a PostgreSQL advisory lock."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from django.db import connection

# The advisory lock key of the relay leader: any fixed bigint no other code uses.
LEADER_LOCK_KEY = 0x2B7E_1516_28AE_D2A6


@contextmanager
def leadership() -> Iterator[bool]:
    """Yield True while this process holds the relay lock, False if another relay does. The
    lock is the session's: PostgreSQL drops it with the connection if the process dies."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s)", [LEADER_LOCK_KEY])
        acquired = bool(cursor.fetchone()[0])
    try:
        yield acquired
    finally:
        if acquired and connection.connection is not None:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s)", [LEADER_LOCK_KEY])
