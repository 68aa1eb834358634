"""Similarity between records, for the item capacity (SPEC section 3).

The fold takes a `Similarity` by injection: the default compares texts with rapidfuzz; the
retrieval layer plugs in its embedding matcher. `PairIndex` keeps the pairwise
similarities of the stored records as they come and go, so an insert costs one row of
similarities, never the whole matrix.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Protocol

import numpy as np
from rapidfuzz import fuzz

from replay.state import Record, StateKey

NONE = -np.inf  # "no pair": an empty slot, or a record against itself


class Similarity(Protocol):
    """`pair(a, b)` in [0, 1], symmetric and deterministic, from the records' task and
    observation. An implementation may also offer `batch(a, others) -> Sequence[float]`
    giving exactly `[pair(a, b) for b in others]`, faster."""

    def pair(self, a: Record, b: Record) -> float: ...


class TextSimilarity:
    """The default: rapidfuzz ratio / 100 on the task and on the observation, averaged."""

    def pair(self, a: Record, b: Record) -> float:
        return (fuzz.ratio(a.task, b.task) / 100 + fuzz.ratio(a.observation, b.observation) / 100) / 2


def similarities(similarity: Similarity, record: Record, others: Sequence[Record]) -> list[float]:
    """`record` against each of `others`, through `batch` when the similarity has one."""
    batch = getattr(similarity, "batch", None)
    if batch is not None:
        return [float(v) for v in batch(record, others)]
    pair = similarity.pair
    return [float(pair(record, other)) for other in others]


class PairIndex:
    """Similarities of every pair of stored records, in slots reused as records leave.

    `_best[i]` is the largest similarity of slot i to any other stored record, kept up to
    date on add and remove, so the closest pair is found in O(M) instead of O(M^2).
    """

    def __init__(self) -> None:
        self.slots: list[StateKey | None] = []
        self._where: dict[StateKey, int] = {}
        self._sim = np.full((8, 8), NONE)
        self._best = np.full(8, NONE)

    def __len__(self) -> int:
        return len(self._where)

    def stored(self) -> list[StateKey]:
        """The stored keys in slot order."""
        return [key for key in self.slots if key is not None]

    def add(self, key: StateKey, row: Mapping[StateKey, float]) -> None:
        """Store `key` with its similarity to every stored record (`row`)."""
        slot = self._free_slot()
        n = len(self.slots)
        values = np.full(n, NONE)
        for other, value in row.items():
            values[self._where[other]] = value
        values[slot] = NONE
        self._sim[slot, :n] = values
        self._sim[:n, slot] = values
        best = self._best[:n]
        np.maximum(best, values, out=best)
        best[slot] = values.max()
        self.slots[slot] = key
        self._where[key] = slot

    def remove(self, key: StateKey) -> None:
        slot = self._where.pop(key)
        self.slots[slot] = None
        n = len(self.slots)
        column = self._sim[:n, slot].copy()
        self._sim[slot, :n] = NONE
        self._sim[:n, slot] = NONE
        best = self._best[:n]
        stale = (column == best) & (column > NONE)
        if stale.any():
            best[stale] = self._sim[:n][stale, :n].max(axis=1)
        best[slot] = NONE

    def closest_pair(self, age: Callable[[StateKey], int]) -> tuple[float, StateKey, StateKey] | None:
        """The most similar stored pair (older record first), None with fewer than two.

        Ties go to the pair holding the oldest record, then the oldest second record
        (`age` gives a record's creation sequence number).
        """
        if len(self._where) < 2:
            return None
        n = len(self.slots)
        best = self._best[:n]
        top = best.max()
        pairs = []
        for i in np.flatnonzero(best == top):
            for j in np.flatnonzero(self._sim[i, :n] == top):
                if i < j:
                    pairs.append(tuple(sorted((self.slots[i], self.slots[j]), key=age)))
        a, b = min(pairs, key=lambda pair: (age(pair[0]), age(pair[1])))
        return float(top), a, b

    def _free_slot(self) -> int:
        for slot, key in enumerate(self.slots):
            if key is None:
                return slot
        slot = len(self.slots)
        if slot == len(self._best):
            size = 2 * slot
            sim = np.full((size, size), NONE)
            sim[:slot, :slot] = self._sim
            best = np.full(size, NONE)
            best[:slot] = self._best
            self._sim, self._best = sim, best
        self.slots.append(None)
        return slot

    def to_data(self) -> dict:
        """Slots and the upper triangle of the matrix (None for "no pair")."""
        n = len(self.slots)
        return {
            "slots": [list(key) if key is not None else None for key in self.slots],
            "sim": [[None if v == NONE else float(v) for v in self._sim[i, i + 1:n]] for i in range(n)],
        }

    @classmethod
    def from_data(cls, data: dict) -> PairIndex:
        index = cls()
        n = len(data["slots"])
        size = max(8, n)
        index._sim = np.full((size, size), NONE)
        index._best = np.full(size, NONE)
        for i, row in enumerate(data["sim"]):
            for offset, value in enumerate(row):
                if value is not None:
                    j = i + 1 + offset
                    index._sim[i, j] = index._sim[j, i] = value
        if n:
            index._best[:n] = index._sim[:n, :n].max(axis=1)
        for slot, key in enumerate(data["slots"]):
            index.slots.append(tuple(key) if key is not None else None)
            if key is not None:
                index._where[tuple(key)] = slot
        return index
