"""Dead-letter the records a consumer cannot process, waiting until the DLQ has them."""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from confluent_kafka import Message

from kafka_bridge import dead_letters, metrics
from kafka_bridge.consumer.retry import Backoff
from kafka_bridge.producer import close as close_producer
from kafka_bridge.records import ConsumedRecord
from kafka_bridge.registry import ConsumerDefinition
from kafka_bridge.topics import DLQ_SUFFIX

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Failure:
    """A consumed record that failed for good, and why."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: dead_letters.RawHeaders
    error: str
    handler: str
    attempts: int

    @classmethod
    def of_message(cls, message: Message, *, error: str, handler: str, attempts: int) -> Failure:
        return cls(
            message.topic(),
            message.partition(),
            message.offset(),
            message.key(),
            message.value(),
            message.headers() or [],
            error,
            handler,
            attempts,
        )

    @classmethod
    def of_record(cls, record: ConsumedRecord, *, error: str, handler: str, attempts: int) -> Failure:
        return cls(
            record.topic,
            record.partition,
            record.offset,
            record.key,
            record.value,
            list(record.headers.items()),
            error,
            handler,
            attempts,
        )


class DeadLetterQueue:
    """A consumer's way to `<topic>.dlq`: the shared dead-letter shape (kafka_bridge.dead_letters),
    produced until the broker acknowledges it, since the offset is committed only after."""

    def __init__(self, definition: ConsumerDefinition, *, stop: threading.Event, backoff: Backoff) -> None:
        self.definition = definition
        self.group = definition.group_id
        self.stop = stop
        self.backoff = backoff

    def send(self, failures: Sequence[Failure]) -> bool:
        """Dead-letter every failure (or skip it where there is no DLQ). True once done; False
        if asked to stop before the DLQ accepted them."""
        letters: list[tuple[str, dead_letters.DeadLetter]] = []
        for failure in failures:
            if not self.definition.dead_letter or failure.topic.endswith(DLQ_SUFFIX):
                logger.error("record cannot be processed and has no DLQ; skipped", extra=self._log(error=failure.error))
                metrics.RECORDS_HANDLED.labels(self.group, failure.topic, "skipped").inc()
                continue
            letter = dead_letters.dead_letter(
                topic=failure.topic,
                partition=failure.partition,
                offset=failure.offset,
                key=failure.key,
                value=failure.value,
                headers=failure.headers,
                error=failure.error,
                handler=failure.handler,
                attempts=failure.attempts,
                group=self.group,
            )
            letters.append((failure.topic, letter))
        attempt = 0
        while letters:
            attempt += 1
            error = dead_letters.send([letter for _, letter in letters])
            if error is None:
                for topic, _ in letters:
                    metrics.RECORDS_DEAD_LETTERED.labels(self.group, topic).inc()
                return True
            logger.error("DLQ produce failed; retrying", extra=self._log(error=error))
            close_producer(timeout=0)  # a stuck idempotent producer (see relay.pipeline): a fresh one
            if self.stop.wait(self.backoff.delay(attempt)):
                return False
        return True

    def _log(self, **extra: Any) -> dict[str, Any]:
        return {"consumer": self.definition.name, "group": self.group, **extra}
