"""One module per scenario; each `run(harness, config, report)` adds its figures to the report.

Listed in the order they run: consumers read their topics from the start, so the scenarios whose
consumers must not wade through earlier scenarios' records run first, and audit (which counts
everything on every topic) runs last."""

from bench.scenarios import (
    audit,
    audit_admin,
    recurrence,
    relay,
    reminders,
    reminders_inbox,
    rest,
    users_10k,
    ws_latency,
    ws_scale,
    ws_storm,
)

ORDER = {
    "recurrence": recurrence,
    # Before `reminders`: the notifications consumer started here reads its topic from the start.
    "reminders_inbox": reminders_inbox,
    "reminders": reminders,
    "ws_latency": ws_latency,
    "rest": rest,
    "ws_scale": ws_scale,
    "ws_storm": ws_storm,
    "relay": relay,
    "audit": audit,
    # After audit ingest (its audit consumer's rows would swell scenario 2's count and rate) and
    # before audit_admin (which empties the log). Its consumers run in groups of their own that
    # start at the topics' ends: no earlier scenario's records, no wedged group left behind.
    "users_10k": users_10k,
    # After audit ingest, whose count its million generated rows would swell.
    "audit_admin": audit_admin,
}
