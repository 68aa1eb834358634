"""What every matcher is: a similarity f(query, record) in [0, 1] over one text of each.

A matcher turns a text into a *feature* once (a tag string, a page pattern, an embedding's
hash) and compares features; a `FeatureTable` holds the distinct features of many records so
one query is scored against all of them in a single vectorised call. Records sharing a
feature (the same task, the same screen layout) share one slot and are scored once. A
costly table (tag LCS, fuzzy) also gives cheap upper bounds from text lengths alone.
"""

from __future__ import annotations

import abc
from collections.abc import Hashable, Iterable, Sequence
from typing import Protocol

import attrs
import numpy as np

FIELDS = ("task", "observation")


class Texts(Protocol):
    """A query or a record: anything with a task and an observation text."""

    task: str
    observation: str


@attrs.frozen
class Query:
    task: str
    observation: str


class FeatureTable(abc.ABC):
    """The distinct features seen so far, each in one slot; slots are never reused."""

    def __init__(self) -> None:
        self._slots: dict[Hashable, int] = {}

    def __len__(self) -> int:
        return len(self._slots)

    def intern(self, feature: Hashable) -> int:
        slot = self._slots.get(feature)
        if slot is None:
            slot = self._slots[feature] = len(self._slots)
            self._append(feature)
        return slot

    def intern_all(self, features: Iterable[Hashable]) -> list[int]:
        """The slot of each feature (the bulk form of `intern`)."""
        known = self._slots.get
        return [slot if (slot := known(f)) is not None else self.intern(f) for f in features]

    @abc.abstractmethod
    def _append(self, feature: Hashable) -> None:
        """Store a new feature in the next slot."""

    @abc.abstractmethod
    def scores(self, feature: Hashable, slots: np.ndarray | None = None) -> np.ndarray:
        """float64 similarity of `feature` to the feature of every slot (in slot order), or
        of the given `slots` only."""

    def bounds(self, feature: Hashable) -> np.ndarray | None:
        """Cheap upper bounds of `scores(feature)` when exact scores are costly (so a
        ranking can skip rows that cannot make it); None when exact scores are cheap."""
        return None


class Matcher(abc.ABC):
    """One similarity f_k of SPEC section 4, reading the `field` text of query and record."""

    name = ""  # as written in a MatcherConfig, without the field suffix
    default_field = "observation"

    def __init__(self, field: str | None = None):
        self.field = field or self.default_field
        if self.field not in FIELDS:
            raise ValueError(f"a matcher reads one of {', '.join(FIELDS)}, not {self.field!r}")

    @abc.abstractmethod
    def features(self, texts: Sequence[str]) -> list[Hashable]:
        """The feature of each text (one batch: embeddings are computed together)."""

    @abc.abstractmethod
    def similarity(self, a: Hashable, b: Hashable) -> float:
        """Similarity of two features, the straightforward per-pair way."""

    @abc.abstractmethod
    def new_table(self) -> FeatureTable:
        """An empty table for the batch path."""

    def text(self, item: Texts) -> str:
        return getattr(item, self.field)

    def score(self, query: Texts, record: Texts) -> float:
        a, b = self.features([self.text(query), self.text(record)])
        return self.similarity(a, b)

    def scores(self, query: Texts, records: Sequence[Texts]) -> np.ndarray:
        """One query against many records at once (float64, one per record)."""
        table = self.new_table()
        features = self.features([self.text(query)] + [self.text(r) for r in records])
        slots = np.array(table.intern_all(features[1:]), dtype=np.intp)
        return table.scores(features[0])[slots]
