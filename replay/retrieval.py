"""Retrieval (SPEC section 4): the top m records for a query, with every matcher's score.

Records are ranked by the combined score, then by total visits (more first), then by age
(the older record first), so a ranking is a total order and replays agree. `ItemSimilarity`
gives the fold the same matchers for item-capacity eviction.
"""

from __future__ import annotations

from collections.abc import Iterator

import attrs

from replay.index import RetrievalIndex, total_visits
from replay.matchers import CombinedMatcher, Query
from replay.state import Record


@attrs.frozen
class Retrieved:
    """One retrieved record: its combined score and each matcher's score."""

    record: Record
    score: float
    scores: dict[str, float]
    visits: int

    def to_dict(self) -> dict:
        """Plain JSON data, as `ExperienceRetrieved.records` holds it."""
        record = self.record
        return {
            "task": record.task,
            "observation": record.observation,
            "record_id": record.record_id,
            "score": self.score,
            "scores": dict(self.scores),
            "visits": self.visits,
            "actions": [
                {"action": action, "q": stats.q, "visits": stats.visits, "mean_reward": stats.mean_reward}
                for action, stats in record.actions.items()
            ],
        }


def _retrieved(index: RetrievalIndex, k: int, task: str, observation: str) -> list[Retrieved]:
    rows, combined, per_term = index.rank(Query(task, observation), k)
    names = index.matcher.names
    return [Retrieved(index.records[row], float(combined[i]),
                      {name: float(values[i]) for name, values in zip(names, per_term)},
                      total_visits(index.records[row]))
            for i, row in enumerate(rows)]


def retrieve(index: RetrievalIndex, task: str, observation: str, top: int = 2) -> list[Retrieved]:
    """The `top` best records for (task, observation), best first."""
    if top < 1:
        raise ValueError(f"top must be >= 1, got {top}")
    return _retrieved(index, top, task, observation)


def ranked(index: RetrievalIndex, task: str, observation: str, first: int = 2) -> Iterator[Retrieved]:
    """Every record best first, lazily: the ranking is extended (4x at a time) only as far
    as the caller reads, e.g. while exemplars are skipped for not fitting the budget."""
    k, done = max(1, first), 0
    while done < len(index):
        found = _retrieved(index, k, task, observation)
        yield from found[done:]
        done, k = len(found), k * 4


class ItemSimilarity:
    """The fold's `Similarity` for item capacity, from the retrieval matchers: `pair(a, b)`
    is the combined score of b for the query a. Features are cached per text, so each
    record's tags are parsed and its embedding looked up once."""

    def __init__(self, matcher: CombinedMatcher):
        self.matcher = matcher
        self._cache: list[dict[str, object]] = [{} for _ in matcher.terms]

    def _feature(self, term: int, text: str) -> object:
        cache = self._cache[term]
        if text not in cache:
            matcher = self.matcher.terms[term][1]
            cache[text] = matcher.features([text])[0]
        return cache[text]

    def pair(self, a: Record, b: Record) -> float:
        total = 0.0
        for term, (_, matcher, weight) in enumerate(self.matcher.terms):
            fa = self._feature(term, matcher.text(a))
            fb = self._feature(term, matcher.text(b))
            total += weight * matcher.similarity(fa, fb)
        return total
