"""Decode polled Kafka messages into headers, CloudEvents and `ConsumedRecord`s."""

from __future__ import annotations

import functools
from datetime import UTC, datetime

from confluent_kafka import Message

from core.sequences import MappedOnUse
from kafka_bridge.envelope import InvalidEvent
from kafka_bridge.records import ConsumedRecord
from kafka_bridge.schemas import decode_event


def message_headers(message: Message) -> dict[str, str]:
    return {
        name: value.decode("utf-8", "replace") if isinstance(value, bytes) else (value or "")
        for name, value in message.headers() or []
    }


def consumed_record(message: Message, *, group: str) -> ConsumedRecord:
    event, error = None, None
    try:
        event = decode_event(message.value())
    except InvalidEvent as exc:
        error = str(exc)
    _, millis = message.timestamp()
    return ConsumedRecord(
        topic=message.topic(),
        partition=message.partition(),
        offset=message.offset(),
        key=message.key(),
        headers=message_headers(message),
        value=message.value(),
        timestamp=datetime.fromtimestamp(millis / 1000, UTC) if millis and millis > 0 else None,
        event=event,
        error=error,
        group=group,
    )


def decoded_on_use(messages: list[Message], *, group: str) -> MappedOnUse[Message, ConsumedRecord]:
    """A poll batch as a batch handler receives it: each record decoded when the handler first
    reaches it, and kept (a retry reads the same records)."""
    return MappedOnUse(messages, functools.partial(consumed_record, group=group))
