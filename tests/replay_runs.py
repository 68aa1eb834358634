"""Runs for the replay tests, written through the real recorder with a pinned clock."""

from __future__ import annotations

from itertools import zip_longest
from pathlib import Path

from replay.benchmarks import synthetic_episodes
from store.events import EpisodeEnded, EpisodeStarted, RLConfig, RunStarted, TransitionRecorded
from store.recorder import SQLiteRecorder, StreamBatch
from tests.conftest import fixed_clock

Step = tuple[str, str, float, str]  # observation, action, reward, next observation


def open_db(path: Path) -> SQLiteRecorder:
    return SQLiteRecorder(path, clock=fixed_clock)


def start_run(recorder: SQLiteRecorder, run: str, config: RLConfig = RLConfig()) -> None:
    recorder.append([RunStarted(run, rl=config, environment="test")], run, 0)


def append_episode(recorder: SQLiteRecorder, run: str, episode: str, task: str, steps: list[Step],
                   end: str = "terminated") -> None:
    """One episode in stream RUN/EPISODE; `end` is terminated, truncated, or open (no end)."""
    events: list = [EpisodeStarted(episode, task)]
    for i, (observation, action, reward, following) in enumerate(steps):
        last = i == len(steps) - 1
        events.append(TransitionRecorded(episode, i, observation, action, reward, following,
                                         terminated=last and end == "terminated",
                                         truncated=last and end == "truncated"))
    if end != "open":
        total = sum(step[2] for step in steps)
        events.append(EpisodeEnded(episode, total, total > 0, steps=len(steps)))
    recorder.append_batches([StreamBatch(f"{run}/{episode}", events, 0)])


# SPEC section 3, worked example: S -a-> R (r 0), R -b-> J (r 0), J -buy-> end (r 0.375).
SPEC_PATH: list[Step] = [("S", "a", 0.0, "R"), ("R", "b", 0.0, "J"), ("J", "buy", 0.375, "end")]


def spec_example(path: Path, config: RLConfig = RLConfig()) -> SQLiteRecorder:
    """Positions: 1 RunStarted; episode 1 at 2-6 (transitions 3, 4, 5); episode 2 at 7-11
    (transitions 8, 9, 10)."""
    recorder = open_db(path)
    start_run(recorder, "spec", config)
    append_episode(recorder, "spec", "ep-1", "shop", SPEC_PATH)
    append_episode(recorder, "spec", "ep-2", "shop", SPEC_PATH)
    return recorder


def random_runs(path: Path, seed: int, *, runs: tuple[str, ...] = ("a",), transitions: int = 60,
                states: int = 6, config: RLConfig = RLConfig()) -> SQLiteRecorder:
    """Seeded random runs over few states (so states repeat), episodes interleaved across
    runs in the log; one episode of each run is left open at the end."""
    recorder = open_db(path)
    sources = []
    for number, run in enumerate(runs):
        start_run(recorder, run, config)
        sources.append(synthetic_episodes(seed + number, transitions, states, mean_steps=4))
    for episodes in zip_longest(*sources):
        for run, item in zip(runs, episodes):
            if item is not None:
                episode, task, steps, end = item
                recorder.append_batches([StreamBatch(f"{run}/{episode}", [EpisodeStarted(episode, task),
                                                                          *steps, end], 0)])
    for run in runs:
        append_episode(recorder, run, "open", "open task", [("o1", "x", 1.0, "o2"), ("o2", "y", 0.5, "o1")],
                       end="open")
    return recorder
