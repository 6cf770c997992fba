"""A sequence computed item by item, when each item is first read."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Generic, TypeVar, overload

S = TypeVar("S")
R = TypeVar("R")

_NOT_YET = object()


class MappedOnUse(Sequence[R], Generic[S, R]):
    """`function(item)` for each of `items`, computed when first read and kept.

    For a consumer's poll batch: the runner decodes each record when the batch handler first
    reaches it, and the audit store maps each record to its row as its COPY reaches it, so the
    next records are decoded and mapped while PostgreSQL stores the chunk sent before. A retry or
    a fallback reads the kept results again."""

    def __init__(self, items: Sequence[S], function: Callable[[S], R]) -> None:
        self._items = items
        self._function = function
        self._results: list[object] = [_NOT_YET] * len(items)

    def __len__(self) -> int:
        return len(self._items)

    @overload
    def __getitem__(self, index: int) -> R: ...

    @overload
    def __getitem__(self, index: slice) -> list[R]: ...

    def __getitem__(self, index: int | slice) -> R | list[R]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        result = self._results[index]
        if result is _NOT_YET:
            result = self._results[index] = self._function(self._items[index])
        return result  # type: ignore[return-value] - computed by `function`
