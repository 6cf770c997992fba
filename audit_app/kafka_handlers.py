"""The `audit` consumer: every record of every topic (DLQ topics included) into the audit log."""

from __future__ import annotations

from audit_app.services import audit_records_store
from kafka_bridge.records import ConsumedRecord
from kafka_bridge.registry import batch_handler


@batch_handler("audit")
def store_audit_batch(records: list[ConsumedRecord]) -> None:
    """One poll batch, stored with one statement; the runner commits offsets after this returns,
    so a crash before then redelivers the batch and the unique key absorbs the repeats."""
    audit_records_store(records=records)
