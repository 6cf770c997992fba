"""What a consumer hands to batch handlers (`ConsumedRecord`), and what they can refuse (`InvalidRecord`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from kafka_bridge.envelope import CloudEvent


@dataclass(frozen=True)
class ConsumedRecord:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    headers: dict[str, str]
    value: bytes | None
    timestamp: datetime | None
    # The decoded, validated event; None when the value is not an acceptable CloudEvent
    # (then `error` says why). DLQ records carry the original event plus error headers.
    event: CloudEvent | None
    error: str | None = None
    # The consumer group it was consumed for (e.g. for the handler's per-record trace spans).
    group: str = ""


@dataclass(frozen=True)
class InvalidRecord:
    """What a batch handler returns for a record it refuses for good: the runner dead-letters
    it (as a per-record handler's `PermanentError`) and commits the rest of the batch."""

    record: ConsumedRecord
    reason: str
