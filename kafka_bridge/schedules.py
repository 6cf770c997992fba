"""Beat entries of kafka_bridge (merged into the Celery beat schedule by todo_project/celery.py).

The sweep is the safety net of the on-commit wake-up: if a wake-up was lost (RabbitMQ down at
commit time, a worker crash), pending rows are published within this interval anyway.
"""

from __future__ import annotations

BEAT_SCHEDULE = {
    "kafka-bridge-outbox-sweep": {
        "task": "kafka_bridge.tasks.relay_outbox_task",
        "schedule": 5.0,
        "options": {"expires": 30},
    },
    "kafka-bridge-outbox-prune": {
        "task": "kafka_bridge.tasks.prune_outbox_task",
        "schedule": 3600.0,
        "options": {"expires": 600},
    },
    "kafka-bridge-processed-events-prune": {
        "task": "kafka_bridge.tasks.prune_processed_events_task",
        "schedule": 3600.0,
        "options": {"expires": 600},
    },
}
