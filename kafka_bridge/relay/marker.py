"""A thread that records delivery reports, so the relay claims and produces meanwhile."""

from __future__ import annotations

import queue
import threading
from typing import Any

from django.db import connection

from kafka_bridge.relay.mark import mark


class Marker(threading.Thread):
    """Runs `mark` in a thread of its own (with its own database connection), so that while it
    waits for PostgreSQL and writes log lines the relay claims and produces the next batch.
    Started only for a backlog (a full claim): a trickle is marked inline, without the extra
    connection. Marking is safe without the leader lock: it only records acknowledged rows."""

    def __init__(self) -> None:
        super().__init__(name="outbox-marker", daemon=True)
        self.jobs: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            while (job := self.jobs.get()) is not None:
                if isinstance(job, threading.Event):
                    job.set()
                elif self.error is None:
                    try:
                        mark(*job)
                    except BaseException as exc:  # noqa: BLE001 - re-raised in the relay's thread
                        self.error = exc
        finally:
            connection.close()

    def sync(self) -> None:
        """Wait until every mark handed over so far is committed; re-raise its failure."""
        done = threading.Event()
        self.jobs.put(done)
        while not done.wait(1.0):
            if not self.is_alive():
                raise RuntimeError("the outbox marker thread died")
        if self.error is not None:
            raise self.error

    def close(self) -> None:
        self.jobs.put(None)
        self.join()
