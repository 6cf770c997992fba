"""The consumer's poll loop: join the group, poll batches, hand them to handling, commit offsets."""

from __future__ import annotations

import logging
import os
import threading
import time
from typing import Any

from confluent_kafka import Consumer, KafkaException, Message, TopicPartition
from django.conf import settings
from django.db import close_old_connections

from kafka_bridge.consumer.broker_workarounds import finish_joining
from kafka_bridge.consumer.config import consumer_config
from kafka_bridge.consumer.dlq import DeadLetterQueue
from kafka_bridge.consumer.handle import Handling
from kafka_bridge.consumer.retry import Backoff
from kafka_bridge.metrics import CONSUMER_CLIENTS_REPLACED
from kafka_bridge.registry import ConsumerDefinition, batch_handler_for, consumers
from kafka_bridge.topics import ensure_topics

logger = logging.getLogger(__name__)

# TESTS ONLY (tests/faults/test_consumer_kills.py), off unless set: seconds to pause after a poll
# batch is handled and before its offsets are committed, announced by a "consumer fault point"
# log line, so that a SIGKILL provably lands while the member holds processed, uncommitted
# records. Never set it in a deployment: every batch would wait this long.
FAULT_PAUSE_BEFORE_COMMIT = float(os.environ.get("KAFKA_CONSUMER_FAULT_PAUSE_BEFORE_COMMIT") or 0)


class ConsumerRunner:
    def __init__(
        self,
        definition: ConsumerDefinition,
        *,
        stop: threading.Event,
        poll_timeout: float = 0.5,
        max_batch: int = 500,
        backoff_base: float = 0.2,
        backoff_max: float = 10.0,
        rejoin_after: float | None = None,
    ) -> None:
        self.definition = definition
        self.stop = stop
        self.poll_timeout = poll_timeout
        self.max_batch = max_batch
        self.group = definition.group_id
        self.config = consumer_config(definition)
        backoff = Backoff(backoff_base, backoff_max)
        self.handling = Handling(definition, stop, backoff, DeadLetterQueue(definition, stop=stop, backoff=backoff))
        self.consumer: Consumer | None = None
        # Set while the member holds an assignment (possibly empty); cleared when a rebalance revokes it.
        self.assigned = threading.Event()
        self.unassigned_since = time.monotonic()
        # Classic groups only, where every rebalance ends in an assignment callback (an empty one for a
        # member left without partitions), and never on Tansu, where closing a member whose join is
        # pending wedges the group (DESIGN.md section 11).
        rejoin = settings.KAFKA_CONSUMER_REJOIN_SECONDS if rejoin_after is None else rejoin_after
        classic = settings.KAFKA_GROUP_PROTOCOL == "classic"
        self.rejoin_after = rejoin if classic and not settings.KAFKA_TANSU_WORKAROUNDS else 0.0

    def run(self) -> None:
        ensure_topics()
        consumers()  # imports every app's handler module, so the handlers are registered
        if self.definition.batch and batch_handler_for(self.definition.name) is None:
            logger.warning("no batch handler registered; records will be skipped", extra=self._log())
        self.consumer = self._subscribed_client()
        logger.info("consumer started", extra=self._log(topics=list(self.definition.topics)))
        try:
            while not self.stop.is_set():
                self._replace_client_if_left_out()
                # consume(n, timeout) waits for n records or the whole timeout: wait for the first
                # record only, then take what has already been fetched.
                first = self.consumer.poll(self.poll_timeout)
                if first is None:
                    continue
                messages = [first, *self.consumer.consume(num_messages=self.max_batch - 1, timeout=0)]
                close_old_connections()
                self._process(messages)
        finally:
            if settings.KAFKA_TANSU_WORKAROUNDS:
                finish_joining(self.consumer, self.assigned)
            self.consumer.close()  # leaves the group at once, so the partitions move without waiting
            logger.info("consumer stopped", extra=self._log())

    def _subscribed_client(self) -> Consumer:
        consumer = Consumer(self.config)
        consumer.subscribe(list(self.definition.topics), on_assign=self._on_assign, on_revoke=self._on_revoke)
        self.assigned.clear()
        self.unassigned_since = time.monotonic()
        return consumer

    def _replace_client_if_left_out(self) -> None:
        """A member that has had no assignment (not even an empty one) for `rejoin_after` seconds
        closes its client and joins with a new one. librdkafka normally rejoins by itself, but a
        member whose session timed out during a broker restart was once seen never to connect
        again (tests/faults/README.md). Its records were not committed, so the new member gets them
        again and the handlers skip what was done; during a long broker outage this repeats every
        `rejoin_after` seconds, harmlessly."""
        if not self.rejoin_after or self.assigned.is_set() or self.consumer is None:
            return
        waited = time.monotonic() - self.unassigned_since
        if waited < self.rejoin_after:
            return
        logger.warning(
            "no partitions assigned for too long: replacing the client", extra=self._log(waited_s=round(waited, 1))
        )
        CONSUMER_CLIENTS_REPLACED.labels(group=self.group).inc()
        self.consumer.close()
        self.consumer = self._subscribed_client()

    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self.assigned.set()
        logger.info("partitions assigned", extra=self._log(partitions=[f"{p.topic}/{p.partition}" for p in partitions]))

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self.assigned.clear()
        self.unassigned_since = time.monotonic()
        logger.info("partitions revoked", extra=self._log(partitions=[f"{p.topic}/{p.partition}" for p in partitions]))

    def _log(self, **extra: Any) -> dict[str, Any]:
        return {"consumer": self.definition.name, "group": self.group, **extra}

    def _process(self, messages: list[Message]) -> None:
        done: dict[tuple[str, int], int] = {}
        records = []
        for message in messages:
            if message.error():
                logger.warning("consume error", extra=self._log(error=str(message.error())))
                continue
            records.append(message)
        if self.definition.batch:
            if self.handling.batch(records):
                for message in records:
                    done[(message.topic(), message.partition())] = message.offset() + 1
        else:
            for message in records:
                if not self.handling.record(message):
                    break  # stopping mid-retry: this record stays uncommitted and is redelivered
                done[(message.topic(), message.partition())] = message.offset() + 1
                if self.stop.is_set():
                    break
        self._commit(done)

    def _commit(self, done: dict[tuple[str, int], int]) -> None:
        if not done or self.consumer is None:
            return
        offsets = [TopicPartition(topic, partition, offset) for (topic, partition), offset in done.items()]
        if FAULT_PAUSE_BEFORE_COMMIT:
            logger.warning("consumer fault point: handled, not yet committed", extra=self._log())
            time.sleep(FAULT_PAUSE_BEFORE_COMMIT)
        try:
            self.consumer.commit(offsets=offsets, asynchronous=False)
        except KafkaException as exc:
            # E.g. the partitions were revoked meanwhile: their records come again, and are skipped.
            logger.warning("offset commit failed", extra=self._log(error=str(exc)))
