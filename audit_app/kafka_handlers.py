"""The `audit` consumer: every record of every topic (DLQ topics included) into the audit log."""

from __future__ import annotations

from audit_app.services import audit_records_store
from core.domain_events import Topic
from kafka_bridge.records import ConsumedRecord
from kafka_bridge.registry import ConsumerDefinition, batch_handler, register_consumer

CONSUMER = register_consumer(
    ConsumerDefinition(
        name="audit",
        group_id="audit",
        topics=tuple(name for topic in Topic for name in (topic.value, topic.dlq)),
        # The audit log stores what it is given, DLQ records included; it has no DLQ of its own.
        dead_letter=False,
        batch=True,
    )
)


@batch_handler("audit")
def store_audit_batch(records: list[ConsumedRecord]) -> None:
    """One poll batch, stored with one statement; the runner commits offsets after this returns,
    so a crash before then redelivers the batch and the unique key absorbs the repeats."""
    audit_records_store(records=records)
