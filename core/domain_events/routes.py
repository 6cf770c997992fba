"""The topics, and the routes each app declares from its domain signals to events on those topics.

An app that emits events lists its routes as `ROUTES` in its `events.py`; `event_routes()` finds
them in every installed app, so the code that reads them (the outbox writer, the consumers'
validation, the AsyncAPI document) names no app.
"""

from __future__ import annotations

import enum
import importlib
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any

from django.apps import apps
from django.dispatch import Signal
from django.utils.module_loading import module_has_submodule
from pydantic import BaseModel

DLQ_SUFFIX = ".dlq"
# Headers a dead letter carries on top of the original record's; `redrive_dlq` strips them.
DLQ_HEADERS = (
    "error",
    "handler",
    "attempts",
    "failed_at",
    "group",
    "original_topic",
    "original_partition",
    "original_offset",
)
ROUTES_MODULE = "events"


class Topic(enum.StrEnum):
    """The Kafka topics (append-only): each has a dead-letter topic, `<topic>.dlq`."""

    TASK_EVENTS = "task-events"
    REMINDERS = "reminders"
    TASK_UPDATES = "task-updates"

    @property
    def dlq(self) -> str:
        return f"{self.value}{DLQ_SUFFIX}"


@dataclass(frozen=True)
class EventRoute:
    """One domain signal → one event type: its CloudEvents `source`, the topics it is written to,
    how the signal's keyword arguments become `data`, and the pydantic model of that `data`.
    The signal is sent with `task_id` and `user_id` (the event's subject and user) plus the
    keyword arguments `data` takes."""

    signal: Signal
    event_type: str
    source: str
    topics: tuple[str, ...]
    data: Callable[..., dict[str, Any]]
    payload: type[BaseModel]
    summary: str


@cache
def event_routes() -> tuple[EventRoute, ...]:
    """Every route of every installed app (`<app>.events.ROUTES`), in INSTALLED_APPS order."""
    routes: list[EventRoute] = []
    for config in apps.get_app_configs():
        if module_has_submodule(config.module, ROUTES_MODULE):
            module = importlib.import_module(f"{config.name}.{ROUTES_MODULE}")
            routes.extend(getattr(module, "ROUTES", ()))
    types = [route.event_type for route in routes]
    duplicates = sorted({name for name in types if types.count(name) > 1})
    if duplicates:
        raise ValueError(f"event types declared twice: {duplicates}")
    return tuple(routes)


@cache
def payload_models() -> dict[str, type[BaseModel]]:
    """{event type: the pydantic model of its `data`}."""
    return {route.event_type: route.payload for route in event_routes()}
