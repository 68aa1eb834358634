"""BM25 ranking for the mini shop's search box (WebShop used Lucene BM25 through pyserini).

Deterministic: words are lower-cased, stopwords dropped and a plural `s` folded; scores
sum in query-word order with pyserini's defaults k1 = 0.9, b = 0.4; ties keep catalogue order.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence

from rememberer_tui.envs.webshop_reward import STOPWORDS


def terms(text: str) -> list[str]:
    words = re.findall(r"[a-z0-9]+(?:\.[0-9]+)?", text.lower())
    return [w[:-1] if len(w) > 3 and w.endswith("s") and not w.endswith("ss") else w
            for w in words if w not in STOPWORDS]


class SearchIndex:
    def __init__(self, documents: Sequence[str], k1: float = 0.9, b: float = 0.4):
        self.k1, self.b = k1, b
        self._counts = [Counter(terms(d)) for d in documents]
        self._lengths = [sum(c.values()) for c in self._counts]
        self._average = sum(self._lengths) / max(len(self._lengths), 1)
        frequency: Counter[str] = Counter()
        for counts in self._counts:
            frequency.update(counts.keys())
        n = len(self._counts)
        self._idf = {t: math.log(1 + (n - f + 0.5) / (f + 0.5)) for t, f in frequency.items()}

    def search(self, query: str, limit: int = 50) -> list[int]:
        """Indices of the best `limit` documents with a positive score, best first."""
        words = [w for w in terms(query) if w in self._idf]
        scored = []
        for index, counts in enumerate(self._counts):
            score = 0.0
            norm = self.k1 * (1 - self.b + self.b * self._lengths[index] / self._average)
            for word in words:
                tf = counts.get(word, 0)
                if tf:
                    score += self._idf[word] * tf * (self.k1 + 1) / (tf + norm)
            if score > 0:
                scored.append((-score, index))
        scored.sort()
        return [index for _, index in scored[:limit]]
