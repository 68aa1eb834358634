"""The experience memory as the fold builds it: records keyed by (task, observation).

The fold (replay/fold.py) owns the records (`FoldState.records`) and updates them in place,
event by event; nobody else mutates them. Anything here is derived: it can always be
rebuilt from the log.
"""

from __future__ import annotations

import attrs

StateKey = tuple[str, str]  # (task, observation)


@attrs.define
class ActionStats:
    """One action of a record. `added_seq` orders actions by when they were added
    (earliest first) for capacity ties; `last_position` is the log position of the
    event whose update last touched this action."""

    q: float = 0.0
    visits: int = 0
    mean_reward: float = 0.0
    added_seq: int = 0
    last_position: int = 0
    reason: str = ""


@attrs.define
class Record:
    """A state of the memory and what the agent learned there.

    `action_history`, `last_reward` and `total_reward` describe how the latest visit got
    here (the exemplar shows them); `key` keeps an imported pool's original key tuple and
    `record_id` its id, so export writes back what came in.
    """

    task: str
    observation: str
    actions: dict[str, ActionStats] = attrs.field(factory=dict)
    created_seq: int = 0
    visits: int = 0
    action_history: tuple[tuple[str, ...], ...] = ()
    last_reward: float = 0.0
    total_reward: float = 0.0
    key: tuple[str, ...] = ()
    record_id: int | None = None

    @property
    def state_key(self) -> StateKey:
        return (self.task, self.observation)

    def value(self) -> float:
        """V(s): the largest Q among the recorded actions; 0 for none (SPEC section 3)."""
        best = None
        for stats in self.actions.values():  # a plain loop: the fold calls this per update
            if best is None or stats.q > best:
                best = stats.q
        return 0.0 if best is None else best
