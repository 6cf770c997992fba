"""The outbox relay: publishes outbox rows to Kafka in order and marks them published.

Ordering across several relays: one leader at a time (`leader`). A relay publishes only while it
holds a PostgreSQL session advisory lock; the others stand by (the `--loop` processes, `loop`) or
return at once (the Celery task woken on commit). The leader publishes pending rows in id order
with an idempotent producer (`draining`, `pipeline`), claiming the next batch while earlier ones are
being acknowledged (`claim`), and marks rows published only after their delivery reports (one
DELETE of their `OutboxPending` rows per round of reports, `mark`). So every key's events reach
Kafka in the order they were recorded. If the leader dies (even SIGKILL), PostgreSQL drops its
lock with its connection; the next leader re-publishes the rows that were produced but not yet
marked: a duplicate with the same event id, which consumers skip (processed events), in the
original order.

A row the broker refuses for good (a record too large for its topic) is marked rejected with the
reason, counted in `outbox_events_rejected_total`, and never blocks the rows after it.

Limit: if one row's delivery fails (after the producer's own retries, `message.timeout.ms`)
while a later row of the same key was acknowledged, the failed row is re-published after it.
The idempotent producer makes that rare (it fails the rest of the partition's queue too);
consumers must tolerate it as they tolerate the DLQ.

One leader is fast enough here (bench scenario 1); more throughput would need per-key claiming.
"""

from kafka_bridge.relay.backlog import has_pending, update_backlog_metrics
from kafka_bridge.relay.claim import DEFAULT_BATCH_SIZE
from kafka_bridge.relay.draining import drain
from kafka_bridge.relay.leader import leadership
from kafka_bridge.relay.loop import publish_pending, run_loop
from kafka_bridge.relay.prune import prune

__all__ = [
    "DEFAULT_BATCH_SIZE",
    "drain",
    "has_pending",
    "leadership",
    "prune",
    "publish_pending",
    "run_loop",
    "update_backlog_metrics",
]
