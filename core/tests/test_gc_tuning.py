"""A bulk loop collects its young generation less often and freezes what it started with."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from core import gc_tuning


@pytest.fixture(autouse=True)
def _thawed() -> Iterator[None]:
    gc.unfreeze()
    yield
    gc.unfreeze()


def test_a_bulk_loop_collects_its_young_generation_less_often_and_freezes_what_it_started_with() -> None:
    before = gc.get_threshold()
    try:
        gc_tuning.tune_bulk_loop()

        assert gc.get_threshold() == (gc_tuning.BULK_YOUNG_THRESHOLD, *before[1:])
        assert gc.get_freeze_count() > 0
    finally:
        gc.set_threshold(*before)
