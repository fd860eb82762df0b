"""Seeded subsampling, so that every window costs the same however large it is."""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence
from typing import Generic, TypeVar

import numpy as np

T = TypeVar("T")


def subsample_indices(n: int, k: int, seed: int) -> np.ndarray:
    """Up to ``k`` of ``range(n)``, sorted, drawn without replacement with ``seed``."""
    if n <= k:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, size=k, replace=False))


def subsample(items: Sequence[T], k: int, seed: int) -> list[T]:
    return [items[i] for i in subsample_indices(len(items), k, seed)]


class Reservoir(Generic[T]):
    """A uniform sample of at most ``size`` items of a stream of unknown length
    (Vitter's algorithm R), seeded; ``seen`` counts every item offered."""

    def __init__(self, size: int, seed: int) -> None:
        if size < 1:
            raise ValueError("a reservoir holds at least one item")
        self.size = size
        self.seen = 0
        self.items: list[T] = []
        self._rng = random.Random(seed)

    def add(self, item: T) -> None:
        self.seen += 1
        if len(self.items) < self.size:
            self.items.append(item)
            return
        slot = self._rng.randrange(self.seen)
        if slot < self.size:
            self.items[slot] = item

    def extend(self, items: Iterable[T]) -> None:
        for item in items:
            self.add(item)
