"""The audit trail of the fold: every change of a Q-value, pruning and eviction, explained.

The arithmetic of an update lives here too (`n_step_target`, `step_toward`), so the fold
and anyone re-checking a trail run the very same float operations: applying a trail's
entries in order, from 0 or from the imported seed, gives the fold's Q bit for bit
(`replay_trail`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import attrs

from replay.state import StateKey
from store.events import RLConfig


def discount_powers(gamma: float, n: int) -> tuple[float, ...]:
    """gamma^0 .. gamma^n, computed once per fold."""
    return tuple(gamma**m for m in range(n + 1))


def n_step_target(rewards: Sequence[float], powers: Sequence[float], bootstrap: float | None) -> float:
    """G = sum_m gamma^m r_{t+m} (+ gamma^len(rewards) V), summed left to right (SPEC 3).

    `bootstrap` is None for a terminated tail (no bootstrap term at all).
    """
    g = rewards[0]  # gamma^0 * r_t, exactly
    for m in range(1, len(rewards)):
        g += powers[m] * rewards[m]
    if bootstrap is not None:
        g += powers[len(rewards)] * bootstrap
    return g


def step_toward(value: float, target: float, visits: int, mode: str, alpha: float) -> float:
    """One update of a running estimate: by 1/N in mean mode, by alpha in const mode."""
    if mode == "mean":
        return value + (target - value) / visits
    return value + alpha * (target - value)


@attrs.frozen
class TrailEntry:
    """One change of Q(s, a) in one table, with the terms that produced it.

    `kind` is "update" (an occurrence applied) or "seed" (values set by PoolImported; then
    `target` is the seeded Q). `position` is the event whose arrival applied the change,
    `occurrence` the position of the occurrence's own transition. `discount` multiplies
    `bootstrap`, the V(`bootstrap_from`) read when the update was applied (None: no
    bootstrap, the episode terminated). Under double Q, `bootstrap_action` is this table's
    argmax at `bootstrap_from`, whose value was read from the other table.
    """

    kind: str
    position: int
    occurrence: int
    episode: str
    step: int
    table: int
    rewards: tuple[float, ...]
    gamma: float
    discount: float
    bootstrap: float | None
    bootstrap_from: StateKey | None
    bootstrap_action: str | None
    target: float
    old_q: float
    new_q: float
    visits: int

    def recomputed_target(self) -> float:
        """The target recomputed from the shown terms (equals `target` for an update)."""
        if self.kind == "seed":
            return self.target
        return n_step_target(self.rewards, discount_powers(self.gamma, len(self.rewards)),
                             self.bootstrap)

    def to_data(self) -> dict:
        return attrs.asdict(self)

    @classmethod
    def from_data(cls, data: dict) -> TrailEntry:
        data = dict(data)
        data["rewards"] = tuple(data["rewards"])
        if data["bootstrap_from"] is not None:
            data["bootstrap_from"] = tuple(data["bootstrap_from"])
        return cls(**data)


@attrs.frozen
class Pruning:
    """An action removed from a full record (action capacity K)."""

    position: int
    task: str
    observation: str
    action: str
    q: float
    mean_reward: float
    visits: int
    reason: str


EVICTION_KINDS = ("evicted", "refused", "forgotten")


@attrs.frozen
class Eviction:
    """A record leaving the memory: `evicted` (capacity, an existing record), `refused`
    (capacity, the new record never got in) or `forgotten` (RecordForgotten).

    `partner` is the record the similarity was measured against, if any.
    """

    position: int
    task: str
    observation: str
    kind: str
    reason: str
    similarity: float | None = None
    partner: StateKey | None = None
    visits: int = 0


Fact = Pruning | Eviction


def fact_to_data(fact: Fact) -> dict:
    return {"fact": type(fact).__name__, **attrs.asdict(fact)}


def fact_from_data(data: dict) -> Fact:
    data = dict(data)
    kind = data.pop("fact")
    if kind == "Pruning":
        return Pruning(**data)
    if data.get("partner") is not None:
        data["partner"] = tuple(data["partner"])
    return Eviction(**data)


def replay_trail(entries: Iterable[TrailEntry], config: RLConfig) -> float:
    """Recompute the shown Q from a trail: each table from 0 (or its seed), entries in order.

    Under double Q the shown Q is the mean of the two tables, as the fold's merged view.
    """
    q = [0.0, 0.0]
    for entry in entries:
        if entry.kind == "seed":
            q[entry.table] = entry.target
        else:
            q[entry.table] = step_toward(q[entry.table], entry.target, entry.visits,
                                         config.update_mode, config.learning_rate)
    return (q[0] + q[1]) / 2 if config.double_q else q[0]
