"""`rememberer bench replay`: how fast a run's Q-table comes back from the log.

A seeded synthetic run (1,000,000 transitions over 10,000 states, 5 actions each, episodes
of about 10 steps) is written through the recorder into a temporary database, then:
the fold rate from the log (read + decode + fold; with the helper process that reads while
the fold runs, and in one process), a plain dict-of-dicts Q-learning loop
over the same transitions in memory as the reference point, a plain sqlite3 + json.loads
read of the same rows, `replay_run(upto=...)` at several positions with snapshots every
100,000 events (the issue's spacing) and every 25,000 (the `snapshot` command's default),
and the peak memory of a fold holding 100,000 states x 5 actions.
"""

from __future__ import annotations

import json
import random
import resource
import statistics
import tempfile
import time
import tracemalloc
from collections.abc import Callable, Iterator
from pathlib import Path

from replay.fold import apply, initial_state
from replay import snapshots
from replay.projection import DEFAULT_SNAPSHOT_EVERY, ReplayStats, replay_run, write_snapshots
from store.events import EpisodeEnded, EpisodeStarted, Event, RLConfig, RunStarted, TransitionRecorded
from store.recorder import Recorded, SQLiteRecorder, StreamBatch

ACTIONS = ("search[red shoes]", "click[item {i}]", "click[next >]", "click[< prev]", "click[buy now]")
COLORS = ("red", "blue", "black", "white", "green", "grey", "brown", "pink", "navy", "beige")
THINGS = ("running shoes", "backpack", "desk lamp", "coffee mug", "phone case", "rain jacket",
          "yoga mat", "water bottle", "wool socks", "sun hat")
STATES_PER_TASK = 100


def task_text(task: int) -> str:
    color, thing = COLORS[task % len(COLORS)], THINGS[(task // len(COLORS)) % len(THINGS)]
    return f"i need {color} {thing}, size {task % 13 + 4}, price lower than {20 + task % 80}.00 dollars"


def observation_text(task: int, state: int) -> str:
    return (f"[search] page {state // 10 + 1} of results for {COLORS[task % len(COLORS)]} "
            f"{THINGS[(task // len(COLORS)) % len(THINGS)]}: item B0{task:04d}{state:02d} "
            f"${(state * 7) % 90 + 9}.99 [next >]")


def action_text(state: int, action: int) -> str:
    return ACTIONS[action].format(i=state % 20)


def synthetic_episodes(seed: int, transitions: int, states: int, *, actions: int = 5,
                       mean_steps: int = 10) -> Iterator[tuple[str, str, list[TransitionRecorded], EpisodeEnded]]:
    """(episode id, task, transitions, end) of a seeded random walk: tasks of
    `STATES_PER_TASK` states each (fewer when `states` is small), episodes of
    `mean_steps` +- 2 steps, reward 1 on a successful last step. Most episodes terminate,
    one in five is truncated (step budget)."""
    rng = random.Random(seed)
    per_task = min(STATES_PER_TASK, states)
    tasks = max(1, states // per_task)
    done, number = 0, 0
    while done < transitions:
        number += 1
        episode, task = f"ep-{number}", rng.randrange(tasks)
        length = min(transitions - done, rng.randint(mean_steps - 2, mean_steps + 2))
        truncated = rng.random() < 0.2
        state, total, steps = rng.randrange(per_task), 0.0, []
        for step in range(length):
            action = rng.randrange(actions)
            following = (state * actions + action + rng.randrange(3)) % per_task
            last = step == length - 1
            reward = 1.0 if last and not truncated and rng.random() < 0.5 else 0.0
            total += reward
            steps.append(TransitionRecorded(
                episode, step, observation_text(task, state), action_text(state, action), reward,
                observation_text(task, following), terminated=last and not truncated,
                truncated=last and truncated))
            state = following
        done += length
        yield episode, task_text(task), steps, EpisodeEnded(episode, total, total > 0, steps=length)


def write_synthetic_run(recorder: SQLiteRecorder, run: str, episodes, *, config: RLConfig = RLConfig(),
                        batch_events: int = 20_000) -> int:
    """Append the run through the recorder in batches of about `batch_events` events;
    returns the number of transitions."""
    recorder.append([RunStarted(run, rl=config, environment="synthetic")], run, 0)
    batches: list[StreamBatch] = []
    pending, transitions = 0, 0
    for episode, task, steps, end in episodes:
        events: list[Event] = [EpisodeStarted(episode, task), *steps, end]
        batches.append(StreamBatch(f"{run}/{episode}", events, 0))
        pending += len(events)
        transitions += len(steps)
        if pending >= batch_events:
            recorder.append_batches(batches)
            batches, pending = [], 0
    if batches:
        recorder.append_batches(batches)
    return transitions


_SELECT_PAYLOADS = "SELECT type, payload FROM events WHERE run = ? ORDER BY position"


def _plain_transitions(recorder: SQLiteRecorder, run: str) -> list[tuple]:
    """The run's transitions as plain tuples (task, o, a, r, o', terminated), texts shared."""
    tasks: dict[str, str] = {}
    texts: dict[str, str] = {}
    share = texts.setdefault
    out = []
    for type_, payload in recorder.conn.execute(_SELECT_PAYLOADS, (run,)):
        data = json.loads(payload)
        if type_ == "EpisodeStarted":
            tasks[data["episode"]] = share(data["task"], data["task"])
        elif type_ == "TransitionRecorded":
            out.append((tasks[data["episode"]], share(data["observation"], data["observation"]),
                        share(data["action"], data["action"]), data["reward"],
                        share(data["next_observation"], data["next_observation"]), data["terminated"]))
    return out


def plain_fold(transitions: list[tuple[str, str, str, float, str, bool]], gamma: float = 1.0) -> dict:
    """Reference point: one-step mean Q-learning in dicts of dicts, no store, no events."""
    q: dict[tuple[str, str], dict[str, list]] = {}
    for task, observation, action, reward, following, terminated in transitions:
        if terminated:
            g = reward
        else:
            after = q.get((task, following))
            g = reward + gamma * (max(v[0] for v in after.values()) if after else 0.0)
        actions = q.setdefault((task, observation), {})
        stats = actions.get(action)
        if stats is None:
            stats = actions[action] = [0.0, 0]
        stats[1] += 1
        stats[0] += (g - stats[0]) / stats[1]
    return q


def _cpu_seconds() -> float:
    """Processor time of this process and of its finished children (the helper readers)."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


def median_seconds(work: Callable[[], object], repeat: int = 3) -> float:
    """The median wall-clock time of `repeat` runs of `work` (the machine is noisy)."""
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def _rate(count: int, seconds: float) -> float:
    return round(count / seconds) if seconds > 0 else float("inf")


def _memory_peak_mb(states: int, actions: int) -> tuple[float, int]:
    """Peak traced memory, in MB, of folding every (state, action) once (episodes of 10
    steps, texts as in the synthetic run), and the number of records."""
    state = initial_state(RLConfig())
    pairs = states * actions
    position = 0
    tracemalloc.start()
    for start in range(0, pairs, 10):
        position += 1
        episode, end = f"m-{position}", min(start + 10, pairs)
        task = (start // actions) // STATES_PER_TASK
        state = apply(Recorded(position, f"m/{episode}", 1, "", "", EpisodeStarted(episode, task_text(task))),
                      state)
        for p in range(start, end):
            position += 1
            s, a = divmod(p, actions)
            event = TransitionRecorded(episode, p - start, observation_text(task, s), action_text(s, a), 0.0,
                                       observation_text(task, s + 1), terminated=p == end - 1)
            state = apply(Recorded(position, f"m/{episode}", p - start + 2, "", "", event), state)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return round(peak / 1e6, 1), len(state.records)


def _qtable_at(recorder: SQLiteRecorder, every: int) -> dict:
    """Snapshots every `every` events, then `replay_run(upto=...)` (median of 3) with no
    snapshot before the target, mid-way between two, just before one (the worst case,
    nearly `every` events to fold) and at the end (a snapshot sits there)."""
    snapshots.drop(recorder, "bench")
    started = time.perf_counter()
    saved = write_snapshots(recorder, "bench", every=every)
    figures: dict = {"every": every, "snapshots": len(saved),
                     "write_s": round(time.perf_counter() - started, 2),
                     "size_mb": round(sum(s.size for s in snapshots.listing(recorder, "bench")) / 1e6, 1)}
    at, folded = {}, {}
    targets = sorted({every // 2, 5 * every + every // 2, saved[-2] - 1, saved[-1]})
    for target in targets:
        stats = ReplayStats()
        at[str(target)] = round(median_seconds(
            lambda: replay_run(recorder, "bench", upto=target, stats=stats)), 3)
        folded[str(target)] = stats.events_folded // 3
    worst = saved[-2] - 1  # nearly `every` events after the snapshot before it
    figures |= {"s": at, "events_folded": folded, "max_s": max(at.values()),
                "worst_one_process_s": round(median_seconds(
                    lambda: replay_run(recorder, "bench", upto=worst, helper=False)), 3)}
    return figures


def bench_replay(quick: bool = False, records: int | None = None, **_) -> dict:
    """Figures for the replay path; `records` sets the number of states (default 10,000)."""
    scale = 20 if quick else 1
    transitions, states = 1_000_000 // scale, (records or 10_000 // scale)
    every = 100_000 // scale
    figures: dict = {"transitions": transitions, "states": states, "actions_per_state": 5}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.db"
        with SQLiteRecorder(path, synchronous="OFF") as recorder:
            started = time.perf_counter()
            write_synthetic_run(recorder, "bench", synthetic_episodes(1, transitions, states))
            figures["generate_s"] = round(time.perf_counter() - started, 1)
            events = recorder.max_position()
            figures["events"] = events

            # Three folds each way: the median is the figure. By default a replay this long
            # reads the log in a helper process while it folds (store/reader_process.py);
            # "one process" is the same replay with helper=False. Processor time (this
            # process and the helper) shows what the machine's other load took.
            for label, helper in (("", None), ("_one_process", False)):
                walls, cpus = [], []
                for _ in range(3):
                    started, cpu = time.perf_counter(), _cpu_seconds()
                    stats = ReplayStats()
                    state = replay_run(recorder, "bench", use_snapshots=False, helper=helper, stats=stats)
                    walls.append(time.perf_counter() - started)
                    cpus.append(_cpu_seconds() - cpu)
                seconds = statistics.median(walls)
                figures[f"fold_from_log{label}_helper"] = stats.helper
                figures[f"fold_from_log{label}_runs_s"] = [round(w, 2) for w in walls]
                figures[f"fold_from_log{label}_transitions_per_s"] = _rate(transitions, seconds)
                figures[f"fold_from_log{label}_best_transitions_per_s"] = _rate(transitions, min(walls))
                figures[f"fold_from_log{label}_cpu_s"] = round(statistics.median(cpus), 2)
            figures["fold_from_log_speedup_from_helper"] = round(
                figures["fold_from_log_transitions_per_s"] / figures["fold_from_log_one_process_transitions_per_s"], 2)
            figures["fold_from_log_events_per_s"] = round(
                figures["fold_from_log_transitions_per_s"] * events / transitions)
            figures["records"] = len(state.records)

            seconds = median_seconds(lambda: sum(
                1 for _, payload in recorder.conn.execute(_SELECT_PAYLOADS, ("bench",)) if json.loads(payload)))
            figures["sqlite_json_read_events_per_s"] = _rate(events, seconds)

            plain = _plain_transitions(recorder, "bench")
            seconds = median_seconds(lambda: plain_fold(plain))
            figures["plain_dict_fold_transitions_per_s"] = _rate(len(plain), seconds)
            figures["fold_from_log_vs_plain_ratio"] = round(
                figures["fold_from_log_transitions_per_s"] / figures["plain_dict_fold_transitions_per_s"], 3)
            # The floor of any fold from these rows in Python: reading them with plain
            # sqlite3 + json.loads, then the plain dict fold, with no events or validation.
            floor_s = (events / figures["sqlite_json_read_events_per_s"]
                       + transitions / figures["plain_dict_fold_transitions_per_s"])
            figures["floor_read_plus_plain_fold_transitions_per_s"] = _rate(transitions, floor_s)
            figures["fold_from_log_vs_floor_ratio"] = round(
                figures["fold_from_log_transitions_per_s"] / _rate(transitions, floor_s), 3)
            del plain

            # The spacing (100,000 events) and the `snapshot` command's default.
            figures["qtable_at"] = _qtable_at(recorder, every)
            figures["qtable_at_max_s"] = figures["qtable_at"]["max_s"]
            figures["qtable_at_default_every"] = _qtable_at(recorder, DEFAULT_SNAPSHOT_EVERY // scale)
            figures["qtable_at_default_every_max_s"] = figures["qtable_at_default_every"]["max_s"]
    peak, kept = _memory_peak_mb(5_000 if quick else 100_000, 5)
    figures["memory_states"] = kept
    figures["memory_peak_mb"] = peak
    return figures
