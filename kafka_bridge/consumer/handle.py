"""Handle one record or one poll batch: handlers in a transaction, retried, failures dead-lettered."""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from confluent_kafka import Message
from django.db import close_old_connections, transaction

from core import tracing
from core.correlation import correlation_scope
from kafka_bridge import metrics
from kafka_bridge.consumer import dedupe
from kafka_bridge.consumer.decode import decoded_on_use, message_headers
from kafka_bridge.consumer.dlq import DeadLetterQueue, Failure
from kafka_bridge.consumer.retry import Backoff, GaveUp, Stopped, retrying
from kafka_bridge.envelope import CloudEvent, InvalidEvent
from kafka_bridge.errors import PermanentError
from kafka_bridge.records import InvalidRecord
from kafka_bridge.registry import ConsumerDefinition, batch_handler_for, handlers_for
from kafka_bridge.schemas import decode_event

logger = logging.getLogger(__name__)

CORRELATION_HEADER = "correlation_id"


def handler_name(handler: Any) -> str:
    return f"{getattr(handler, '__module__', '?')}.{getattr(handler, '__qualname__', repr(handler))}"


class HandlerFailed(Exception):
    def __init__(self, handler: str, error: Exception) -> None:
        super().__init__(str(error))
        self.handler = handler
        self.error = error


@dataclass(frozen=True)
class Handling:
    """What handling needs of its consumer: the definition, the stop signal, backoff and DLQ."""

    definition: ConsumerDefinition
    stop: threading.Event
    backoff: Backoff
    dlq: DeadLetterQueue

    @property
    def group(self) -> str:
        return self.definition.group_id

    def log(self, **extra: Any) -> dict[str, Any]:
        return {"consumer": self.definition.name, "group": self.group, **extra}

    # --- one record -------------------------------------------------------------------------

    def record(self, message: Message) -> bool:
        """Handle one record completely (processed, skipped or dead-lettered): True. False only
        when asked to stop while retrying (the record is then left uncommitted)."""
        topic = message.topic()
        headers = message_headers(message)
        try:
            event = decode_event(message.value())
        except InvalidEvent as exc:
            return self.dlq.send(
                [Failure.of_message(message, error=f"invalid event: {exc}", handler="decode", attempts=1)]
            )
        handlers = handlers_for(self.definition.name, event.type)
        if not handlers:
            metrics.RECORDS_HANDLED.labels(self.group, topic, "skipped").inc()
            return True
        with (
            correlation_scope(headers.get(CORRELATION_HEADER) or event.correlationid),
            tracing.consume_span(headers, topic=topic, group=self.group, event_type=event.type),
        ):

            def on_retry(failure: Exception, attempt: int, delay: float) -> None:
                assert isinstance(failure, HandlerFailed)
                metrics.RECORDS_RETRIED.labels(self.group).inc()
                logger.warning(
                    "handler failed; retrying",
                    extra=self.log(event_id=event.id, handler=failure.handler, attempt=attempt, delay=delay),
                    exc_info=failure.error,
                )
                close_old_connections()

            try:
                outcome = retrying(
                    lambda attempt: self._run_handlers(event, handlers),
                    backoff=self.backoff,
                    stop=self.stop,
                    max_attempts=self.definition.max_attempts,
                    permanent=lambda failure: isinstance(getattr(failure, "error", None), PermanentError),
                    on_retry=on_retry,
                )
            except Stopped:
                return False
            except GaveUp as gave_up:
                failure = gave_up.error
                assert isinstance(failure, HandlerFailed)
                logger.error(
                    "record failed; dead-lettering",
                    extra=self.log(
                        event_id=event.id, handler=failure.handler, attempts=gave_up.attempts, error=str(failure.error)
                    ),
                )
                return self.dlq.send(
                    [
                        Failure.of_message(
                            message,
                            error=f"{type(failure.error).__name__}: {failure.error}",
                            handler=failure.handler,
                            attempts=gave_up.attempts,
                        )
                    ]
                )
        metrics.RECORDS_HANDLED.labels(self.group, topic, outcome).inc()
        return True

    def _run_handlers(self, event: CloudEvent, handlers: list[Any]) -> str:
        current = "kafka_bridge.processed_event"
        try:
            with transaction.atomic():
                if not dedupe.first_delivery(self.group, event.id):
                    return "duplicate"
                for handler in handlers:
                    current = handler_name(handler)
                    handler(event)
        except Exception as exc:  # every failure is classified: retried or dead-lettered
            raise HandlerFailed(current, exc) from exc
        return "processed"

    # --- one batch --------------------------------------------------------------------------

    def batch(self, messages: list[Message]) -> bool:
        """Handle a poll batch with the consumer's batch handler, retried as a whole; records it
        returns as `InvalidRecord`s are dead-lettered. True when done; False when asked to stop
        first (the batch is then left uncommitted)."""
        if not messages:
            return True
        handler = batch_handler_for(self.definition.name)
        if handler is None:
            for message in messages:
                metrics.RECORDS_HANDLED.labels(self.group, message.topic(), "skipped").inc()
            return True
        records = decoded_on_use(messages, group=self.group)
        dead_letter = self.definition.dead_letter
        attempts = 0

        def attempt_batch(attempt: int) -> Sequence[InvalidRecord] | None:
            nonlocal attempts
            attempts = attempt
            with transaction.atomic():
                return handler(records)

        def on_retry(exc: Exception, attempt: int, delay: float) -> None:
            metrics.RECORDS_RETRIED.labels(self.group).inc()
            logger.warning("batch handler failed; retrying", extra=self.log(attempt=attempt, delay=delay), exc_info=exc)
            close_old_connections()

        try:
            invalid = retrying(
                attempt_batch,
                backoff=self.backoff,
                stop=self.stop,
                # Retried until it succeeds, unless the definition has a DLQ to give up to.
                max_attempts=self.definition.max_attempts if dead_letter else None,
                permanent=lambda exc: dead_letter and isinstance(exc, PermanentError),
                on_retry=on_retry,
            )
        except Stopped:
            return False
        except GaveUp as gave_up:
            error = f"{type(gave_up.error).__name__}: {gave_up.error}"
            return self.dlq.send(
                [
                    Failure.of_message(m, error=error, handler=handler_name(handler), attempts=gave_up.attempts)
                    for m in messages
                ]
            )
        refused = list(invalid or ())
        refused_at = {(r.record.topic, r.record.partition, r.record.offset) for r in refused}
        for message in messages:
            if not refused_at or (message.topic(), message.partition(), message.offset()) not in refused_at:
                metrics.RECORDS_HANDLED.labels(self.group, message.topic(), "processed").inc()
        return self.dlq.send(
            [
                Failure.of_record(r.record, error=r.reason, handler=handler_name(handler), attempts=attempts)
                for r in refused
            ]
        )
