"""Fixtures of the tasks_app tests: a recorder of the domain signals tasks_app sends."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from django.db import connection

from tasks_app import signals

SIGNALS = {
    "task_created": signals.task_created,
    "task_updated": signals.task_updated,
    "task_completed": signals.task_completed,
    "task_reopened": signals.task_reopened,
    "task_deleted": signals.task_deleted,
    "reminder_scheduled": signals.reminder_scheduled,
    "reminder_cancelled": signals.reminder_cancelled,
}


@dataclass
class SignalRecorder:
    calls: list[tuple[str, dict[str, Any], bool]] = field(default_factory=list)

    def names(self) -> list[str]:
        return [name for name, _, _ in self.calls]

    def of(self, name: str) -> list[dict[str, Any]]:
        return [kwargs for signal_name, kwargs, _ in self.calls if signal_name == name]

    def clear(self) -> None:
        self.calls.clear()


@pytest.fixture
def sent() -> Iterator[SignalRecorder]:
    """Every tasks_app signal sent during the test: (name, kwargs, sent inside a transaction)."""
    recorder = SignalRecorder()
    receivers = {}
    for name, signal in SIGNALS.items():

        def receiver(sender: Any, signal: Any = None, _name: str = name, **kwargs: Any) -> None:
            recorder.calls.append((_name, kwargs, connection.in_atomic_block))

        receivers[name] = receiver
        signal.connect(receiver, weak=False, dispatch_uid=f"test-recorder-{name}")
    try:
        yield recorder
    finally:
        for name, signal in SIGNALS.items():
            signal.disconnect(dispatch_uid=f"test-recorder-{name}")
