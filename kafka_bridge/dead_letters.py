"""Dead letters: the one DLQ record shape, written by the runner, handlers and `redrive_dlq`.

A dead letter is the original record (key, value, its own headers) on `<topic>.dlq`, plus the
headers below saying why it failed and where it came from. `redrive_dlq` strips exactly these
headers again, so a redriven record is the original one.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from core.domain_events import DLQ_HEADERS
from kafka_bridge.producer import get_producer
from kafka_bridge.topics import DLQ_SUFFIX

ERROR_HEADER_LENGTH = 2000
DELIVERY_TIMEOUT_SECONDS = 30.0

RawHeaders = Iterable[tuple[str, bytes | str | None]]


def dead_letter_headers(
    *,
    error: str,
    handler: str,
    attempts: int | str,
    group: str,
    original_topic: str,
    failed_at: str | None = None,
    **extra: str,
) -> dict[str, str]:
    """The DLQ headers of one failed record; `extra` adds e.g. `original_partition`."""
    return {
        "error": error[:ERROR_HEADER_LENGTH],
        "handler": handler,
        "attempts": str(attempts),
        "failed_at": failed_at or datetime.now(UTC).isoformat(),
        "group": group,
        "original_topic": original_topic,
        **extra,
    }


def dlq_topic(topic: str) -> str:
    return topic if topic.endswith(DLQ_SUFFIX) else topic + DLQ_SUFFIX


def original_headers(headers: RawHeaders) -> list[tuple[str, bytes]]:
    """A record's headers without any DLQ header (as bytes, as Kafka carries them)."""
    return [
        (name, value.encode() if isinstance(value, str) else (value or b""))
        for name, value in headers
        if name not in DLQ_HEADERS
    ]


@dataclass(frozen=True)
class DeadLetter:
    """One record to produce to a DLQ topic."""

    topic: str
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes]]


def dead_letter(
    *,
    topic: str,
    partition: int,
    offset: int,
    key: bytes | None,
    value: bytes | None,
    headers: RawHeaders,
    error: str,
    handler: str,
    attempts: int,
    group: str,
) -> DeadLetter:
    """The dead letter of a consumed record (`topic`/`partition`/`offset`) that failed."""
    why = dead_letter_headers(
        error=error,
        handler=handler,
        attempts=attempts,
        group=group,
        original_topic=topic,
        original_partition=str(partition),
        original_offset=str(offset),
    )
    return DeadLetter(
        topic=dlq_topic(topic),
        key=key,
        value=value,
        headers=original_headers(headers) + [(name, value.encode()) for name, value in why.items()],
    )


def send(letters: Sequence[DeadLetter], *, timeout: float = DELIVERY_TIMEOUT_SECONDS) -> str | None:
    """Produce every letter and wait for the broker: None once all are acknowledged, else the
    first error (or "timeout"). The caller decides whether to retry."""
    if not letters:
        return None
    producer = get_producer()
    errors: list[object] = []
    for letter in letters:
        producer.produce(
            letter.topic,
            key=letter.key,
            value=letter.value,
            headers=letter.headers,
            on_delivery=lambda err, msg: errors.append(err),
        )
    producer.flush(timeout)
    failures = [err for err in errors if err is not None]
    if failures:
        return str(failures[0])
    if len(errors) < len(letters):
        return "timeout"
    return None
