"""One module per scenario; each `run(harness, config, report)` adds its figures to the report.

Listed in the order they run: consumers read their topics from the start, so the scenarios whose
consumers must not wade through earlier scenarios' records run first, and audit (which counts
everything on every topic) runs last."""

from bench.scenarios import audit, recurrence, relay, reminders, rest, ws_latency, ws_scale

ORDER = {
    "recurrence": recurrence,
    "reminders": reminders,
    "ws_latency": ws_latency,
    "rest": rest,
    "ws_scale": ws_scale,
    "relay": relay,
    "audit": audit,
}
