"""What changed between two Q-tables: records and actions added, removed, changed.

Both sides are `qtable_rows` lists (the SPEC section 6 export rows). An absent action
counts as Q = 0, as in the zero-initialised table of SPEC section 3, so every entry has
a Q delta and one ordering (largest |delta| first) covers them all.
"""

from __future__ import annotations

from collections.abc import Iterable

import attrs

from replay.state import StateKey

ADDED, REMOVED, CHANGED = "added", "removed", "changed"


@attrs.frozen
class ActionChange:
    """One (task, observation, action) whose values differ between side A and side B."""

    status: str
    task: str
    observation: str
    action: str
    q_a: float | None
    q_b: float | None
    visits_a: int | None
    visits_b: int | None
    mean_reward_a: float | None
    mean_reward_b: float | None

    @property
    def delta(self) -> float:
        return (self.q_b or 0.0) - (self.q_a or 0.0)

    def to_dict(self) -> dict:
        return {**attrs.asdict(self), "delta": self.delta}


@attrs.frozen
class TableDiff:
    records_added: list[StateKey]
    records_removed: list[StateKey]
    actions: list[ActionChange]
    unchanged: int

    def count(self, status: str) -> int:
        return sum(1 for change in self.actions if change.status == status)

    def to_dict(self) -> dict:
        return {
            "records_added": [list(key) for key in self.records_added],
            "records_removed": [list(key) for key in self.records_removed],
            "actions": [change.to_dict() for change in self.actions],
            "unchanged": self.unchanged,
        }


def _index(rows: Iterable[dict]) -> dict[tuple[str, str, str], dict]:
    return {(row["task"], row["observation"], row["action"]): row for row in rows}


def _values(row: dict | None) -> tuple:
    return (row["q"], row["visits"], row["mean_reward"]) if row else (None, None, None)


def diff_rows(rows_a: Iterable[dict], rows_b: Iterable[dict]) -> TableDiff:
    """Compare table A with table B; deltas are B - A, sorted by |delta| then by key."""
    a, b = _index(rows_a), _index(rows_b)
    changes: list[ActionChange] = []
    unchanged = 0
    for key in sorted(a.keys() | b.keys()):
        row_a, row_b = a.get(key), b.get(key)
        values_a, values_b = _values(row_a), _values(row_b)
        if values_a == values_b:
            unchanged += 1
            continue
        status = ADDED if row_a is None else REMOVED if row_b is None else CHANGED
        (q_a, visits_a, mean_a), (q_b, visits_b, mean_b) = values_a, values_b
        changes.append(ActionChange(status, *key, q_a, q_b, visits_a, visits_b, mean_a, mean_b))
    # sorted() is stable, so equal |delta| keeps the key order of the loop above.
    changes.sort(key=lambda change: -abs(change.delta))
    states_a = {key[:2] for key in a}
    states_b = {key[:2] for key in b}
    return TableDiff(
        records_added=sorted(states_b - states_a),
        records_removed=sorted(states_a - states_b),
        actions=changes,
        unchanged=unchanged,
    )
