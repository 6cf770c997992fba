"""Publish as leader until caught up: passes of pipelined claims from the lowest pending id."""

from __future__ import annotations

import threading
import time

from kafka_bridge.relay.backlog import refresh_backlog_metrics
from kafka_bridge.relay.claim import DEFAULT_BATCH_SIZE, ClaimAhead, claim
from kafka_bridge.relay.pipeline import Pipeline

# Produced but unacknowledged rows allowed, in batches: bounds what a crash re-publishes.
MAX_IN_FLIGHT_BATCHES = 4
# A pass claims from the lowest pending id at most this long before it drains its pipeline
# and starts again from the lowest pending id (see `drain`).
PASS_SECONDS = 2.0


def _publish_pass(pipeline: Pipeline, *, batch_size: int, deadline: float | None, stop: threading.Event | None) -> bool:
    """Publish pending rows from the lowest id on, claiming the next batch while earlier ones
    are still being acknowledged, for at most PASS_SECONDS. Returns True if it stopped caught
    up (a claim came back short), or on a failure, a stop or the deadline."""
    pass_end = time.monotonic() + PASS_SECONDS
    after = 0
    ahead: ClaimAhead | None = None
    try:
        while True:
            if (stop and stop.is_set()) or (deadline is not None and time.monotonic() >= deadline):
                return True
            rows = ahead.rows() if ahead else claim(after, batch_size)
            ahead = None
            full = len(rows) == batch_size
            if full:
                pipeline.use_marker()
                if pipeline.marker is not None and time.monotonic() < pass_end:
                    ahead = ClaimAhead(rows[-1][0], batch_size)
            pipeline.produce(rows)
            if rows:
                after = rows[-1][0]
            pipeline.poll(0)
            # Bound what is produced but not acknowledged (and so not yet marked).
            while pipeline.in_flight > MAX_IN_FLIGHT_BATCHES * batch_size:
                pipeline.poll(0.005)
            pipeline.mark()
            if pipeline.failures or not full:
                return True
            if time.monotonic() >= pass_end:
                return False
    finally:
        if ahead is not None:
            ahead.rows()  # unused: ends the pipeline
        pipeline.finish()


def drain(
    *, batch_size: int = DEFAULT_BATCH_SIZE, deadline: float | None = None, stop: threading.Event | None = None
) -> int:
    """As leader, publish until nothing is pending, a delivery fails, time is up or `stop` is
    set. Returns the number of rows published.

    In passes of at most PASS_SECONDS, each starting again from the lowest pending id: a row
    whose transaction took an id below the claims' position but committed later is published
    by the next pass (a pass cannot restart while rows are in flight: they would be produced
    twice)."""
    pipeline = Pipeline()
    try:
        while not _publish_pass(pipeline, batch_size=batch_size, deadline=deadline, stop=stop):
            pass
    finally:
        pipeline.close()
    refresh_backlog_metrics()
    return pipeline.published
