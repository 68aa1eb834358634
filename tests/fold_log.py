"""A run's events as `Recorded` objects, positions 1, 2, ..., for fold tests (no database).

Event ids are derived from positions, so nothing random enters a test.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from hypothesis import strategies as st

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

    def start(self, episode: str, task: str, split: str = "train") -> Recorded:
        self.steps[episode] = 0
        return self.add(EpisodeStarted, episode, episode=episode, task=task, split=split)

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


def draw_run(draw: Callable, *, tasks: Sequence[str], observations: Sequence[str], actions: Sequence[str],
             rewards: Sequence[float], endings: Sequence[str], max_length: int, splits: Sequence[str] = ("train",),
             side_event: Callable[[Callable, Log], None] | None = None, side_odds: int = 10) -> Log:
    """A run of 1-5 episodes interleaved at random (for `st.composite` strategies): each
    ends one of `endings` (terminated or truncated: its last step's flag; ended: an
    EpisodeEnded without one; open: neither), and `side_event(draw, log)` comes between
    events once in `side_odds`."""
    scripts: dict[str, list[tuple]] = {}
    for e in range(draw(st.integers(1, 5))):
        length = draw(st.integers(1, max_length))
        states = draw(st.lists(st.sampled_from(observations), min_size=length + 1, max_size=length + 1))
        ending = draw(st.sampled_from(endings))
        ops = [("start", draw(st.sampled_from(tasks)), draw(st.sampled_from(splits)))]
        for t in range(length):
            last = t == length - 1
            ops.append(("step", states[t], draw(st.sampled_from(actions)), draw(st.sampled_from(rewards)),
                        states[t + 1], last and ending == "terminated", last and ending == "truncated"))
        if ending != "open":
            ops.append(("end",))
        scripts[f"e{e}"] = ops
    log = Log()
    log.start_run()
    while scripts:
        if side_event is not None and draw(st.integers(0, side_odds - 1)) == 0:
            side_event(draw, log)
        episode = draw(st.sampled_from(sorted(scripts)))
        op = scripts[episode].pop(0)
        if not scripts[episode]:
            del scripts[episode]
        if op[0] == "start":
            log.start(episode, op[1], op[2])
        elif op[0] == "step":
            _, o, a, r, o2, terminated, truncated = op
            log.step(episode, o, a, r, o2, terminated=terminated, truncated=truncated)
        else:
            log.end(episode)
    return log


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
