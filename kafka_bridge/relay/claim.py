"""Claim pending outbox rows in id order, optionally the next claim ahead while producing."""

from __future__ import annotations

from contextlib import ExitStack
from typing import Any

import orjson
from django.db import connection

# Rows per claim. Claims are pipelined (the next is produced while the last is acknowledged),
# so a batch is only the unit of reading and of marking, not a flush.
DEFAULT_BATCH_SIZE = 2000

# One claimed row: (id, topic, key, value as JSON text, headers). Only the columns publishing
# needs (the event id and type are the `ce_id` and `ce_type` headers); the value is published as
# the text that was written (a `json` column: no decode/re-encode, see OutboxJSONField).
Row = tuple[int, str, str, str, dict[str, Any]]

# Pending rows after `after`, in id order (keyset: each claim starts where the last one ended).
# The ids come first from the narrow pending table and the wide columns are read for those only,
# so stale statistics after a burst cannot make PostgreSQL render every pending value.
CLAIM_SQL = (
    'SELECT id, topic, key, value::text, headers::text FROM "kafka_bridge_outboxevent" '
    'WHERE id = ANY(ARRAY(SELECT id FROM "kafka_bridge_outboxpending" WHERE id > %s ORDER BY id LIMIT %s)) '
    "ORDER BY id"
)


def _rows(fetched: list[tuple[Any, ...]]) -> list[Row]:
    loads = orjson.loads
    return [(row_id, topic, key, value, loads(headers)) for row_id, topic, key, value, headers in fetched]


def claim(after: int, limit: int) -> list[Row]:
    with connection.cursor() as cursor:
        cursor.execute(CLAIM_SQL, [after, limit])
        return _rows(cursor.fetchall())


class ClaimAhead:
    """The next claim, sent before the current batch is produced and read after it: PostgreSQL
    runs it on another core meanwhile (libpq pipeline mode; no thread, whose results would wait
    for the GIL). Nothing else may use the connection until `rows()`, so marks must go to the
    marker thread."""

    def __init__(self, after: int, limit: int) -> None:
        connection.ensure_connection()
        self._stack = ExitStack()
        try:
            self._stack.enter_context(connection.connection.pipeline())
            self._cursor = self._stack.enter_context(connection.connection.cursor())
            self._cursor.execute(CLAIM_SQL, [after, limit])
        except BaseException:
            self._stack.close()
            raise

    def rows(self) -> list[Row]:
        with self._stack:
            return _rows(self._cursor.fetchall())
