"""Domain-event plumbing shared by all apps: the batching scope, the routes apps declare, the payload field types.

Apps declare how their signals become events (`EventRoute`, in their `events.py`); the event
bridge reads those declarations and writes the outbox. Neither side imports the other: both
import this package, which knows no app and no bridge.
"""

from core.domain_events.batch import batched, outbox_batch
from core.domain_events.routes import DLQ_HEADERS, DLQ_SUFFIX, EventRoute, Topic, event_routes, payload_models

__all__ = [
    "DLQ_HEADERS",
    "DLQ_SUFFIX",
    "EventRoute",
    "Topic",
    "batched",
    "event_routes",
    "outbox_batch",
    "payload_models",
]
