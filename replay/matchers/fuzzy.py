"""Fuzzy text similarity for plain-text observations: rapidfuzz's ratio / 100.

It compares whole texts character by character (normalised Indel distance), so on long
screens it costs about 300 times the tag LCS (measured on WikiHow screens): use it for
short plain text, and `lcs` for HTML-like screens.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence

import numpy as np
from rapidfuzz import fuzz, process

from replay.matchers.base import FeatureTable, Matcher


class FuzzyTable(FeatureTable):
    def __init__(self) -> None:
        super().__init__()
        self.texts: list[str] = []
        self._lengths: list[int] = []

    def _append(self, feature: Hashable) -> None:
        self.texts.append(feature)
        self._lengths.append(len(feature))

    def scores(self, feature: Hashable, slots: np.ndarray | None = None) -> np.ndarray:
        texts = self.texts if slots is None else [self.texts[s] for s in slots]
        if not texts:
            return np.zeros(0)
        ratios = process.cdist([feature], texts, scorer=fuzz.ratio, dtype=np.float64, workers=1)[0]
        return ratios / 100.0

    def bounds(self, feature: Hashable) -> np.ndarray:
        """ratio = 1 - indel / (len1 + len2) and indel >= |len1 - len2|, so the ratio is at
        most 2 * shorter / (len1 + len2); the small margin covers rapidfuzz's rounding."""
        lengths = np.asarray(self._lengths, dtype=np.float64)
        total = lengths + len(feature)
        out = np.ones(len(lengths))
        np.divide(2.0 * np.minimum(lengths, len(feature)), total, out=out, where=total > 0)
        return np.minimum(out + 1e-9, 1.0)


class FuzzyMatcher(Matcher):
    name = "fuzzy"

    def features(self, texts: Sequence[str]) -> list[Hashable]:
        return list(texts)

    def similarity(self, a: Hashable, b: Hashable) -> float:
        return fuzz.ratio(a, b) / 100.0

    def new_table(self) -> FeatureTable:
        return FuzzyTable()
