"""Celery tasks of kafka_bridge: the relay woken on commit, its beat sweep, and pruning."""

from __future__ import annotations

from celery import shared_task

from kafka_bridge import relay
from kafka_bridge.consumer import dedupe


@shared_task(ignore_result=True)
def relay_outbox_task() -> int:
    """Publish pending outbox rows unless another relay leads; re-enqueue if time ran out."""
    published, more = relay.publish_pending()
    if more:
        relay_outbox_task.apply_async(expires=60)
    return published


@shared_task(ignore_result=True)
def prune_outbox_task() -> int:
    """Delete published outbox rows past their retention."""
    return relay.prune()


@shared_task(ignore_result=True)
def prune_processed_events_task() -> int:
    """Delete the consumers' processed-event ids past their retention."""
    return dedupe.prune()
