"""The private Django internals this project uses, in one place, for Django 5.2.19 only."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, TypeVar

from django.db.models import Model, QuerySet

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


def fill_prefetch_cache(instance: Model, relations: Mapping[str, Iterable[Any]]) -> None:
    """Fill `instance`'s prefetch caches with rows in hand (`{"tags": [...]}`), as
    `prefetch_related(*relations)` would, so reading `instance.tags.all()` needs no query. A later
    `.add()` or `.set()` on the relation clears its cache, as for any prefetched instance."""
    instance._prefetched_objects_cache = {  # type: ignore[attr-defined]
        name: fill_result_cache(getattr(instance, name).all(), rows) for name, rows in relations.items()
    }


def mark_loaded(instance: Model, using: str) -> Model:
    """`instance` marked as a row that exists in database `using` (as `Model.from_db` marks it),
    for rows written by hand-made SQL: a later `save()` updates it instead of inserting."""
    instance._state.adding = False
    instance._state.db = using
    return instance
