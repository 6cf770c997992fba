"""Long-lived objects are frozen out of the collector's reach; frozen cyclic garbage is still
reclaimed once the frozen set has grown by a quarter."""

from __future__ import annotations

import asyncio
import gc
import weakref
from collections.abc import Iterator

import pytest

from core import gc_tuning


class Cycle:
    def __init__(self) -> None:
        self.me = self


@pytest.fixture(autouse=True)
def _thawed() -> Iterator[None]:
    gc.unfreeze()
    yield
    gc.unfreeze()


class FakeCollector:
    def __init__(self, frozen: int) -> None:
        self.frozen = frozen
        self.calls: list[str] = []

    def get_freeze_count(self) -> int:
        return self.frozen

    def freeze(self) -> None:
        self.calls.append("freeze")

    def unfreeze(self) -> None:
        self.calls.append("unfreeze")

    def collect(self) -> None:
        self.calls.append("collect")


def test_small_growth_is_only_frozen() -> None:
    fake = FakeCollector(frozen=1_000_000)
    freezer = gc_tuning.FreezeLongLived(fake)
    fake.frozen += 240_000  # under a quarter

    assert freezer.step() is False
    assert fake.calls == ["freeze"]


def test_a_quarter_more_frozen_objects_are_collected_once_then_frozen_again() -> None:
    fake = FakeCollector(frozen=1_000_000)
    freezer = gc_tuning.FreezeLongLived(fake)
    fake.frozen += 260_000

    assert freezer.step() is True
    assert fake.calls == ["unfreeze", "collect", "freeze"]
    fake.calls.clear()
    assert freezer.step() is False  # the new size is the new reference
    assert fake.calls == ["freeze"]


def test_frozen_cyclic_garbage_is_reclaimed_by_the_collection_the_growth_triggers(monkeypatch) -> None:
    freezer = gc_tuning.FreezeLongLived()
    garbage = Cycle()
    alive = weakref.ref(garbage)
    freezer.step()  # frozen while still referenced
    del garbage
    gc.collect()
    assert alive() is not None, "a frozen cycle is out of the collector's reach"

    monkeypatch.setattr(gc_tuning, "MIN_GROWTH", 0)
    monkeypatch.setattr(gc_tuning, "GROWTH_BEFORE_COLLECTING", 0.0)
    assert freezer.step() is True
    assert alive() is None
    assert gc.get_freeze_count() > 0


def test_one_freezing_task_per_event_loop() -> None:
    async def start_twice() -> list[asyncio.Task]:
        gc_tuning.ensure_running()
        first = gc_tuning._running
        gc_tuning.ensure_running()
        return [first, gc_tuning._running]

    first, second = asyncio.run(start_twice())
    assert first is second
    third = asyncio.run(start_twice())[0]
    assert third is not first  # a new loop (a new process's) gets its own
