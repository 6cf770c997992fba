"""The private Django internals this project uses, in one place, for Django 5.2.19 only."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, TypeVar

from django.db.models import QuerySet

from core.internals.versions import require_version

PINNED = "5.2.19"

Q = TypeVar("Q", bound=QuerySet)


def check_version() -> None:
    """Refuse to run on a Django other than the one these internals were written for."""
    require_version("Django", PINNED)


def fill_result_cache(queryset: Q, rows: Iterable[Any]) -> Q:
    """`queryset` made to hold `rows` as if it had been evaluated (and prefetched), so reading
    it needs no query: a prefetch cache filled with rows already in hand."""
    queryset._result_cache = list(rows)  # type: ignore[attr-defined]
    queryset._prefetch_done = True  # type: ignore[attr-defined]
    return queryset
