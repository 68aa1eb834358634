"""A run's events as `Recorded` objects, positions 1, 2, ..., for fold tests (no database).

Event ids are derived from positions, so nothing random enters a test.
"""

from __future__ import annotations

from collections.abc import Sequence

from replay.fold import FoldState
from store.events import (
    EpisodeEnded,
    EpisodeStarted,
    Event,
    PoolImported,
    PoolRecord,
    RecordForgotten,
    RunStarted,
    TransitionRecorded,
)
from store.recorder import Recorded

Step = tuple[str, str, float, str]  # (observation, action, reward, next observation)


class Log:
    def __init__(self, run: str = "run") -> None:
        self.run = run
        self.events: list[Recorded] = []
        self.steps: dict[str, int] = {}

    def add(self, event_type: type[Event], episode: str | None = None, /, **fields) -> Recorded:
        position = len(self.events) + 1
        event = event_type(event_id=f"{self.run}-{position}", **fields)
        stream = self.run if episode is None else f"{self.run}/{episode}"
        recorded = Recorded(position, stream, position, "", "", event)
        self.events.append(recorded)
        return recorded

    def start_run(self) -> Recorded:
        return self.add(RunStarted, run=self.run)

    def start(self, episode: str, task: str) -> Recorded:
        self.steps[episode] = 0
        return self.add(EpisodeStarted, episode, episode=episode, task=task)

    def step(self, episode: str, observation: str, action: str, reward: float, next_observation: str,
             *, terminated: bool = False, truncated: bool = False, reason: str = "") -> Recorded:
        step = self.steps[episode]
        self.steps[episode] = step + 1
        return self.add(TransitionRecorded, episode, episode=episode, step=step,
                        observation=observation, action=action, reward=reward,
                        next_observation=next_observation, terminated=terminated,
                        truncated=truncated, reason=reason)

    def end(self, episode: str, total_reward: float = 0.0, success: bool = False) -> Recorded:
        return self.add(EpisodeEnded, episode, episode=episode, total_reward=total_reward,
                        success=success)

    def episode(self, episode: str, task: str, steps: Sequence[Step], *, how: str = "terminated") -> None:
        """A whole episode; `how` is how its last step ends: terminated, truncated or open
        (no done flag, no EpisodeEnded)."""
        self.start(episode, task)
        for i, (observation, action, reward, next_observation) in enumerate(steps):
            last = i == len(steps) - 1
            self.step(episode, observation, action, reward, next_observation,
                      terminated=last and how == "terminated", truncated=last and how == "truncated")
        if how != "open":
            self.end(episode)

    def pool(self, records: Sequence[PoolRecord], source: str = "pool.yaml") -> Recorded:
        return self.add(PoolImported, source=source, format="generic", records=tuple(records))

    def forget(self, task: str, observation: str, reason: str = "") -> Recorded:
        return self.add(RecordForgotten, task=task, observation=observation, reason=reason)


def state_parts(state: FoldState) -> tuple:
    """Everything a snapshot must keep, as comparable values (types included: a tuple is
    not equal to a list), independent of `to_json`."""
    return (
        state.config, state.position, state.seq, state.occurrences, list(state.records.items()),
        None if state.tables is None else [list(table.items()) for table in state.tables],
        [(name, ep.task, list(ep.pending), ep.history, ep.last_reward, ep.total_reward)
         for name, ep in sorted(state.episodes.items())],  # a mapping: order is not state
        state.frozen, None if state.index is None else state.index.to_data(),
        None if state.trails is None else list(state.trails.items()), state.facts,
    )
