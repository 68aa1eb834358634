"""An in-memory retrieval index over the fold's records, kept in step with the fold.

Rows are records; for each matcher term a row holds the slot of its feature in that
matcher's `FeatureTable` (distinct features are scored once per query, then gathered per
row). The index follows the fold through its listener hooks (`record_added`,
`record_changed`, `record_removed`), so an insert costs one feature extraction, and it can
always be rebuilt from the log: `RetrievalIndex.build(state.records.values(), matcher)`.
A removed record's row is filled by the last row; its features stay in the tables until a
rebuild (they cost memory only).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from replay.matchers import CombinedMatcher, Texts
from replay.state import Record, StateKey


def total_visits(record: Record) -> int:
    """The visits of all of a record's actions: the retrieval tie-break (the reference's)."""
    return sum(stats.visits for stats in record.actions.values())


class RetrievalIndex:
    def __init__(self, matcher: CombinedMatcher):
        self.matcher = matcher
        self.tables = [m.new_table() for _, m, _ in matcher.terms]
        self.records: list[Record] = []
        self._rows: dict[StateKey, int] = {}
        self._slots = np.zeros((len(matcher.terms), 16), dtype=np.intp)
        self._visits = np.zeros(16, dtype=np.int64)
        self._created = np.zeros(16, dtype=np.int64)

    @classmethod
    def build(cls, records: Iterable[Record], matcher: CombinedMatcher) -> RetrievalIndex:
        """An index over `records` (features of each matcher computed in one batch)."""
        index = cls(matcher)
        index.add(records)
        return index

    def __len__(self) -> int:
        return len(self.records)

    # ------------------------------------------------------------------ changes

    def add(self, records: Iterable[Record]) -> None:
        """Index new records (a record already indexed is only refreshed)."""
        fresh = []
        for record in records:
            if (record.task, record.observation) in self._rows:
                self.record_changed(record)
            else:
                fresh.append(record)
        if not fresh:
            return
        start = len(self.records)
        self._reserve(start + len(fresh))
        for term, (_, matcher, _) in enumerate(self.matcher.terms):
            table = self.tables[term]
            features = matcher.features([matcher.text(r) for r in fresh])
            self._slots[term, start:start + len(fresh)] = table.intern_all(features)
        end = start + len(fresh)
        self._rows.update(zip([(r.task, r.observation) for r in fresh], range(start, end)))
        self._visits[start:end] = [total_visits(r) for r in fresh]
        self._created[start:end] = [r.created_seq for r in fresh]
        self.records.extend(fresh)

    def record_added(self, record: Record) -> None:
        self.add((record,))

    def record_changed(self, record: Record) -> None:
        row = self._rows[record.state_key]
        self.records[row] = record
        self._visits[row] = total_visits(record)

    def record_removed(self, record: Record, reason: str = "") -> None:
        row = self._rows.pop(record.state_key)
        last = len(self.records) - 1
        if row != last:
            moved = self.records[last]
            self.records[row] = moved
            self._rows[moved.state_key] = row
            self._slots[:, row] = self._slots[:, last]
            self._visits[row] = self._visits[last]
            self._created[row] = self._created[last]
        self.records.pop()

    def _reserve(self, size: int) -> None:
        capacity = self._visits.shape[0]
        if size <= capacity:
            return
        while capacity < size:
            capacity *= 2
        slots = np.zeros((self._slots.shape[0], capacity), dtype=np.intp)
        slots[:, :len(self.records)] = self._slots[:, :len(self.records)]
        self._slots = slots
        self._visits = np.resize(self._visits, capacity)
        self._created = np.resize(self._created, capacity)

    # ------------------------------------------------------------------ scoring

    def _features(self, query: Texts) -> list:
        return [matcher.features([matcher.text(query)])[0] for _, matcher, _ in self.matcher.terms]

    def _combine(self, values: list[np.ndarray], size: int) -> np.ndarray:
        """sum_k w_k values_k, term by term in the config's order, exactly as
        `CombinedMatcher.score` sums one pair (so both give the same float)."""
        combined = np.zeros(size)
        for (_, _, weight), term_values in zip(self.matcher.terms, values):
            combined += weight * term_values
        return combined

    def scores(self, query: Texts) -> tuple[np.ndarray, list[np.ndarray]]:
        """(combined score, [score of each matcher]) of every row, float64."""
        n = len(self.records)
        per_term = [table.scores(feature)[self._slots[term, :n]]
                    for term, (table, feature) in enumerate(zip(self.tables, self._features(query)))]
        return self._combine(per_term, n), per_term

    def rank(self, query: Texts, k: int) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
        """The best k rows in ranking order (see `order`), with their combined score and
        each matcher's score; the same as scoring every row, but faster.

        A costly matcher (tag LCS, fuzzy) is first replaced by its upper bound from text
        lengths. Exact scores are computed for the rows of highest bound, which sets the
        k-th best exact score t; then for every other row whose bound reaches t. A row
        left out has a bound, hence a score, below t: it cannot be among the best k, nor
        tie with them.
        """
        n = len(self.records)
        features = self._features(query)
        slots = self._slots[:, :n]
        cheap: dict[int, np.ndarray] = {}
        ceiling: list[np.ndarray] = []
        for term, (table, feature) in enumerate(zip(self.tables, features)):
            bounds = table.bounds(feature)
            if bounds is None:
                cheap[term] = table.scores(feature)[slots[term]]
                ceiling.append(cheap[term])
            else:
                ceiling.append(bounds[slots[term]])
        bound = self._combine(ceiling, n)

        def exact(rows: np.ndarray) -> list[np.ndarray]:
            return [cheap[t][rows] if t in cheap else table.scores(feature, slots[t, rows])
                    for t, (table, feature) in enumerate(zip(self.tables, features))]

        if len(cheap) == len(self.tables) or k >= n:
            rows = np.arange(n)
        else:
            rows = np.argpartition(-bound, min(n, 4 * k + 60) - 1)[:min(n, 4 * k + 60)]
        values = exact(rows)
        combined = self._combine(values, len(rows))
        if len(rows) < n:
            threshold = np.partition(combined, len(rows) - k)[len(rows) - k]
            reach = bound >= threshold
            reach[rows] = False
            more = np.flatnonzero(reach)
            if len(more):
                extra = exact(more)
                rows = np.concatenate([rows, more])
                values = [np.concatenate([a, b]) for a, b in zip(values, extra)]
                combined = np.concatenate([combined, self._combine(extra, len(more))])
        best = self._order(rows, combined)[:k]
        return rows[best], combined[best], [v[best] for v in values]

    def _order(self, rows: np.ndarray, combined: np.ndarray) -> np.ndarray:
        """Positions of `rows` best first: score descending, then total visits descending,
        then age (older, i.e. smaller creation sequence, first)."""
        return np.lexsort((self._created[rows], -self._visits[rows], -combined))
