"""Long-lived objects of a socket-holding process are frozen out of the collector's reach;
frozen cyclic garbage is still reclaimed once the frozen set holds a quarter more than the open
sockets explain."""

from __future__ import annotations

import asyncio
import gc
import weakref
from collections.abc import Iterator

import pytest

from sync_app.ws import gc_freeze


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
        self.left_by_collect: int | None = None  # what a collection leaves frozen (default: all)
        self.calls: list[str] = []

    def get_freeze_count(self) -> int:
        return self.frozen

    def freeze(self) -> None:
        self.calls.append("freeze")

    def unfreeze(self) -> None:
        self.calls.append("unfreeze")

    def collect(self) -> None:
        self.calls.append("collect")
        if self.left_by_collect is not None:
            self.frozen = self.left_by_collect


class Sockets:
    def __init__(self, count: int = 0) -> None:
        self.count = count

    def __call__(self) -> int:
        return self.count


def freezer_at(frozen: int, sockets: int = 0) -> tuple[gc_freeze.FreezeLongLived, FakeCollector, Sockets]:
    fake, open_sockets = FakeCollector(frozen=frozen), Sockets(sockets)
    return gc_freeze.FreezeLongLived(fake, open_sockets), fake, open_sockets


def check(freezer: gc_freeze.FreezeLongLived) -> bool:
    """Run steps up to and including the next one that counts the frozen set."""
    collected = False
    for _ in range(gc_freeze.CHECK_EVERY):
        collected = freezer.step()
    return collected


def test_small_growth_is_only_frozen() -> None:
    freezer, fake, _ = freezer_at(1_000_000)
    fake.frozen += 240_000  # under a quarter

    assert check(freezer) is False
    assert fake.calls == ["freeze"] * gc_freeze.CHECK_EVERY


def test_the_frozen_set_is_counted_only_every_few_freezes() -> None:
    freezer, fake, _ = freezer_at(1_000_000)
    fake.frozen += 500_000

    for _ in range(gc_freeze.CHECK_EVERY - 1):
        assert freezer.step() is False
    assert fake.calls == ["freeze"] * (gc_freeze.CHECK_EVERY - 1)
    assert freezer.step() is True


def test_a_quarter_more_frozen_objects_are_collected_once_then_frozen_again() -> None:
    freezer, fake, _ = freezer_at(1_000_000)
    fake.frozen += 260_000

    assert check(freezer) is True
    assert fake.calls[-3:] == ["unfreeze", "collect", "freeze"]
    fake.calls.clear()
    assert check(freezer) is False  # the new size is the new reference
    assert "collect" not in fake.calls


def test_growth_that_new_sockets_explain_is_not_collected() -> None:
    freezer, fake, sockets = freezer_at(200_000)
    for _ in range(5):  # a worker filling up to 5,000 sockets
        sockets.count += 1_000
        fake.frozen += 1_000 * gc_freeze.OBJECTS_PER_SOCKET
        assert check(freezer) is False
    assert "collect" not in fake.calls


def test_the_frozen_garbage_of_closed_sockets_is_collected_and_objects_per_socket_measured() -> None:
    freezer, fake, sockets = freezer_at(200_000)
    sockets.count = 4_000
    fake.frozen += 4_000 * 150  # fewer per socket than the first guess: explained
    assert check(freezer) is False

    sockets.count = 1_000  # 3,000 closed: their objects stay frozen until collected
    fake.left_by_collect = 200_000 + 1_000 * 150
    assert check(freezer) is True
    assert freezer.per_socket == 150  # measured by that collection

    fake.calls.clear()
    sockets.count = 4_000  # filling up again, at the measured size, is explained
    fake.frozen += 3_000 * 150
    assert check(freezer) is False
    assert "collect" not in fake.calls


def test_frozen_cyclic_garbage_is_reclaimed_by_the_collection_the_growth_triggers(monkeypatch) -> None:
    freezer = gc_freeze.FreezeLongLived()
    garbage = Cycle()
    alive = weakref.ref(garbage)
    freezer.step()  # frozen while still referenced
    del garbage
    gc.collect()
    assert alive() is not None, "a frozen cycle is out of the collector's reach"

    monkeypatch.setattr(gc_freeze, "MIN_GROWTH", 0)
    monkeypatch.setattr(gc_freeze, "GROWTH_BEFORE_COLLECTING", 0.0)
    monkeypatch.setattr(gc_freeze, "CHECK_EVERY", 1)
    assert freezer.step() is True
    assert alive() is None
    assert gc.get_freeze_count() > 0


def test_one_freezing_task_per_event_loop() -> None:
    async def start_twice() -> list[asyncio.Task]:
        gc_freeze.socket_opened()
        first = gc_freeze._running
        gc_freeze.socket_opened()
        return [first, gc_freeze._running]

    first, second = asyncio.run(start_twice())
    assert first is second
    third = asyncio.run(start_twice())[0]
    assert third is not first  # a new loop (a new process's) gets its own
