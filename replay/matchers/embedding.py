"""Task similarity f_g: cosine of normalised sentence-transformer embeddings.

The feature of a text is its hash; the vector lives in the `Embedder` (memory, then the
database, then the model), so scoring one query against every record is one matrix-vector
product over the distinct texts of the memory. Rounding can put the cosine of unit float32
vectors a hair outside [-1, 1]; scores are clipped to it.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence

import numpy as np

from replay.embeddings import Embedder
from replay.matchers.base import FeatureTable, Matcher


class EmbeddingTable(FeatureTable):
    def __init__(self, embedder: Embedder) -> None:
        super().__init__()
        self.embedder = embedder
        self._matrix: np.ndarray | None = None

    def _append(self, feature: Hashable) -> None:
        vector = self.embedder.vector(feature)
        n = len(self) - 1  # intern() has already counted the new slot
        if self._matrix is None:
            self._matrix = np.zeros((16, vector.shape[0]), dtype=np.float32)
        elif n == self._matrix.shape[0]:
            grown = np.zeros((2 * n, self._matrix.shape[1]), dtype=np.float32)
            grown[:n] = self._matrix
            self._matrix = grown
        self._matrix[n] = vector

    def scores(self, feature: Hashable, slots: np.ndarray | None = None) -> np.ndarray:
        if self._matrix is None:
            return np.zeros(0)
        matrix = self._matrix[:len(self)] if slots is None else self._matrix[slots]
        # einsum, not BLAS: single-threaded on purpose (OpenBLAS threads spinning on two
        # busy cores made this product 20x slower, measured) and as fast for these sizes.
        cosine = np.einsum("ij,j->i", matrix, self.embedder.vector(feature)).astype(np.float64)
        return np.clip(cosine, -1.0, 1.0, out=cosine)


class EmbeddingMatcher(Matcher):
    default_field = "task"

    def __init__(self, embedder: Embedder, field: str | None = None):
        super().__init__(field)
        self.embedder = embedder
        self.name = f"embedding:{embedder.model}"

    def features(self, texts: Sequence[str]) -> list[Hashable]:
        return self.embedder.hashes(texts)

    def similarity(self, a: Hashable, b: Hashable) -> float:
        cosine = float(np.dot(self.embedder.vector(a), self.embedder.vector(b)))
        return min(1.0, max(-1.0, cosine))

    def new_table(self) -> FeatureTable:
        return EmbeddingTable(self.embedder)
