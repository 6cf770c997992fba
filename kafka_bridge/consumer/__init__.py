"""The consumer runner behind `manage.py run_consumer NAME` (DESIGN.md section 3).

Per record: decode the CloudEvent and validate it against its type's schema (`decode`); if a
handler of this consumer wants its type, run the handlers and record the event id as processed
for the group in ONE database transaction (`dedupe`; an already-processed id is skipped), then
commit the offset (`loop`). Offsets are committed manually, after the work of the records before
them is durable, so a crash at any point means redelivery, never loss, and redelivery is skipped.

Failures: invalid records (not JSON, not a CloudEvent, unknown type, failing the schema) and
`PermanentError`s go to `<topic>.dlq` at once (`dlq`); other exceptions are retried in place
with exponential backoff up to the definition's `max_attempts` (`retry`), then dead-lettered.
Either way the partition moves on. A DLQ breaks per-key order for that one record: handlers must
tolerate it.

Batch consumers (`batch=True`) get every record of a poll batch as `ConsumedRecord`s (invalid
ones with `event=None` and `error` set); a failing batch is retried, offsets are committed after
it returns. A batch handler may return `InvalidRecord`s for records it refuses: those are
dead-lettered as a per-record handler's `PermanentError` is, and the rest is committed.
SIGTERM/SIGINT: the current record or batch is finished, offsets committed, the consumer leaves
its group.
"""
