"""The read side of the audit screens: where a run's events are, why a Q-value is what it
is, what changed between two tables, and the series the plots draw.

Pure functions over a recorder, called from the screens' worker threads (each with its own
recorder); no textual here, so each is tested on its own. They agree with the CLI by
construction: the same `replay_run`, `qtable_rows`, `diff_rows` and `trail_for` calls.
"""

from __future__ import annotations

import math
import threading
from array import array
from bisect import bisect_right
from collections.abc import Iterator

import attrs

from rememberer_tui.data import EPISODE_STREAMS_SQL, stream_range
from replay.diff import TableDiff, diff_rows
from replay.fold import FOLDED_TYPES, FoldState, apply, fold_events, initial_state, qtable_rows, trail_for
from replay.metrics import EpochRow, epoch_table
from replay.projection import replay_run, run_config, run_similarity
from replay.similarity import Similarity
from replay.state import Record, StateKey
from replay.trail import Eviction, Fact, Pruning, TrailEntry, replay_trail
from store.events import RLConfig, TransitionRecorded
from store.recorder import Recorded, SQLiteRecorder

# --------------------------------------------------------------------------- positions


def run_span(recorder: SQLiteRecorder, run: str) -> tuple[int, int]:
    """The positions of the run's first and last events ((0, 0) for an unknown run)."""
    first, last = recorder.conn.execute(
        "SELECT min(position), max(position) FROM events WHERE run = ?", (run,)).fetchone()
    return (first or 0, last or 0)


def run_positions(recorder: SQLiteRecorder, run: str) -> array:
    """Every position of the run, in order: what stepping event by event walks through
    (an index-only scan, 8 bytes a position)."""
    rows = recorder.conn.execute("SELECT position FROM events WHERE run = ? ORDER BY position", (run,))
    return array("q", (position for (position,) in rows))


@attrs.frozen
class EpisodeMark:
    """Where an episode lies in the log: its first and (so far) last event."""

    stream: str
    episode: str
    epoch: int
    split: str
    first: int
    last: int


def episode_marks(recorder: SQLiteRecorder, run: str) -> list[EpisodeMark]:
    """The run's episodes in the order they started, by a skip-scan of the stream index."""
    rows = recorder.conn.execute(
        EPISODE_STREAMS_SQL +
        " SELECT s, f.position, (SELECT position FROM events WHERE stream = s ORDER BY version DESC LIMIT 1),"
        " json_extract(f.payload, '$.episode'), json_extract(f.payload, '$.epoch'),"
        " json_extract(f.payload, '$.split')"
        " FROM streams JOIN events AS f ON f.stream = s AND f.version = 1"
        " WHERE f.type = 'EpisodeStarted' ORDER BY f.position",
        stream_range(run),
    ).fetchall()
    return [EpisodeMark(stream, episode, epoch, split, first, last)
            for stream, first, last, episode, epoch, split in rows]


def epoch_ends(marks: list[EpisodeMark]) -> list[tuple[int, int]]:
    """(epoch, the position its last episode ended) per epoch, in log order."""
    ends: dict[int, int] = {}
    for mark in marks:
        ends[mark.epoch] = max(ends.get(mark.epoch, 0), mark.last)
    return sorted(ends.items(), key=lambda item: item[1])


def episode_at(marks: list[EpisodeMark], position: int, look_back: int = 64) -> EpisodeMark | None:
    """The episode whose events span `position`, if any: the latest started one among
    the `look_back` that started last before it (episodes rarely interleave more)."""
    index = bisect_right(marks, position, key=lambda mark: mark.first) - 1
    for mark in marks[max(0, index - look_back + 1):index + 1][::-1]:
        if mark.last >= position:
            return mark
    return None


# --------------------------------------------------------------------------- provenance


class TrailCache:
    """One fold with the audit trail, kept between provenance questions: a later position
    folds on from it, an earlier one folds again from the start (a trail cannot start
    from a snapshot). Use under `lock`: the state is folded in place. The run's eviction
    similarity is kept with it, made once per run and config."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self._key: tuple[str, RLConfig] | None = None
        self._state: FoldState | None = None
        self._similarity: Similarity | None = None

    def state_at(self, recorder: SQLiteRecorder, run: str, position: int, config: RLConfig) -> FoldState:
        state = self._state
        if self._key != (run, config):
            state, self._similarity = None, run_similarity(recorder, run, config)
        if state is None or state.position > position:
            state = replay_run(recorder, run, upto=position, config=config, trail=True,
                               similarity=self._similarity)
        else:
            fold_events(recorder.read_events(state.position, run=run, upto=position,
                                             types=FOLDED_TYPES), state)
        self._key, self._state = (run, config), state
        return state


@attrs.frozen
class UpdateRow:
    """One change of the value: the trail entry and the transition it came from (None for
    a pool seed), with the episode's stream to jump to."""

    entry: TrailEntry
    transition: TransitionRecorded | None
    stream: str


@attrs.frozen
class Provenance:
    """Why Q(key, action) is what it is as of `position` under `config`.

    `q` and `visits` are the fold's (None if the action is not in the memory then);
    `replayed` is `replay_trail` of the updates, which must equal `q`; `facts` the
    prunings of this action and evictions of its record up to `position`.
    """

    run: str
    position: int
    key: StateKey
    action: str
    config: RLConfig
    q: float | None
    visits: int | None
    mean_reward: float | None
    updates: tuple[UpdateRow, ...]
    facts: tuple[Fact, ...]
    replayed: float

    @property
    def consistent(self) -> bool:
        return self.q is not None and self.replayed == self.q


def _transitions(recorder: SQLiteRecorder, positions: set[int]) -> dict[int, TransitionRecorded]:
    found = {}
    for position in sorted(positions):
        for recorded in recorder.read(position - 1, 1):
            if isinstance(recorded.event, TransitionRecorded):
                found[position] = recorded.event
    return found


def provenance(recorder: SQLiteRecorder, run: str, key: StateKey, action: str, position: int, *,
               config: RLConfig | None = None, trails: TrailCache | None = None) -> Provenance:
    """Every update of Q(key, action) up to `position`, oldest first, each with its
    transition and the terms of its target, plus the action's prunings and the record's
    evictions. Folds the run with the trail (cached in `trails`)."""
    config = config if config is not None else run_config(recorder, run)
    trails = trails if trails is not None else TrailCache()
    with trails.lock:
        state = trails.state_at(recorder, run, position, config)
        entries = trail_for(state, key, action)
        record = state.records.get(key)
        stats = record.actions.get(action) if record is not None else None
        facts = tuple(f for f in state.facts if (f.task, f.observation) == key
                      and (isinstance(f, Eviction) or f.action == action))
    transitions = _transitions(recorder, {e.occurrence for e in entries if e.kind == "update"})
    updates = tuple(UpdateRow(e, transitions.get(e.occurrence), f"{run}/{e.episode}" if e.episode else "")
                    for e in entries)
    return Provenance(
        run=run, position=position, key=key, action=action, config=config,
        q=stats.q if stats else None, visits=stats.visits if stats else None,
        mean_reward=stats.mean_reward if stats else None, updates=updates, facts=facts,
        replayed=replay_trail(entries, config),
    )


def target_terms(entry: TrailEntry) -> str:
    """The target written out: 'r0 + γ·r1 + γ²·V = G', the numbers as the fold used them."""
    if entry.kind == "seed":
        return f"seeded {entry.target:.6g}"
    terms = [f"{entry.rewards[0]:g}"]
    for m, reward in enumerate(entry.rewards[1:], start=1):
        terms.append(f"{entry.gamma ** m:g}×{reward:g}")
    if entry.bootstrap is not None:
        terms.append(f"{entry.discount:g}×V {entry.bootstrap:.4g}")
    return " + ".join(terms) + f" = {entry.target:.6g}"


def fact_text(fact: Fact) -> str:
    if isinstance(fact, Pruning):
        return (f"pruned at position {fact.position} (Q {fact.q:.4g}, {fact.visits} visits): "
                f"{fact.reason}")
    return f"record {fact.kind} at position {fact.position}: {fact.reason}"


def provenance_rows(found: Provenance) -> list[dict]:
    """The provenance as flat rows (export): one per update, then one per fact."""
    rows = []
    for row in found.updates:
        e, t = row.entry, row.transition
        rows.append({
            "kind": e.kind, "position": e.position, "occurrence": e.occurrence, "episode": e.episode,
            "step": e.step, "table": e.table, "reward": t.reward if t else None,
            "next_observation": t.next_observation if t else None, "rewards": list(e.rewards),
            "discount": e.discount, "bootstrap": e.bootstrap, "target": e.target,
            "terms": target_terms(e), "old_q": e.old_q, "new_q": e.new_q, "visits": e.visits,
        })
    for fact in found.facts:
        kind = "pruned" if isinstance(fact, Pruning) else fact.kind
        rows.append({"kind": kind, "position": fact.position, "terms": fact.reason})
    return rows


# --------------------------------------------------------------------------- diff


def table_diff(recorder: SQLiteRecorder, run: str, at: int, against: int,
               config: RLConfig | None = None) -> TableDiff:
    """`rememberer diff --at AT --against AGAINST` with `config` (the what-if of side B;
    the run's own when None): side A under the run's config, deltas B - A."""
    base = run_config(recorder, run)
    config = config or base
    own = run_similarity(recorder, run, base)
    other = own if config == base else run_similarity(recorder, run, config)
    rows_a = qtable_rows(replay_run(recorder, run, upto=at, config=base, similarity=own))
    rows_b = qtable_rows(replay_run(recorder, run, upto=against, config=config, similarity=other))
    return diff_rows(rows_a, rows_b)


# --------------------------------------------------------------------------- plots


@attrs.frozen
class PlotSeries:
    """What the plots screen draws: the per-epoch table, and along the run, at each of
    `positions`, the number of records and the mean |ΔQ| of the updates since the previous
    point (one update = one record change; |ΔQ| summed over its actions)."""

    epochs: tuple[EpochRow, ...]
    positions: tuple[int, ...]
    memory_size: tuple[int, ...]
    mean_abs_delta: tuple[float, ...]


class _Deltas:
    """A fold listener summing |ΔQ| per record change."""

    def __init__(self) -> None:
        self.q: dict[StateKey, dict[str, float]] = {}
        self.total = 0.0
        self.updates = 0

    def record_added(self, record: Record) -> None:
        self.record_changed(record)

    def record_changed(self, record: Record) -> None:
        old = self.q.get(record.state_key, {})
        new = {action: stats.q for action, stats in record.actions.items()}
        self.total += sum(abs(q - old.get(action, 0.0)) for action, q in new.items())
        self.updates += 1
        self.q[record.state_key] = new

    def record_removed(self, record: Record, reason: str) -> None:
        self.q.pop(record.state_key, None)


def plot_series(recorder: SQLiteRecorder, run: str, points: int = 120) -> PlotSeries:
    """One pass over the run: the fold (for the memory size and the Q changes) and the
    per-epoch table, sampled at `points` evenly spaced positions of the run's span (the
    last one its last event)."""
    deltas = _Deltas()
    config = run_config(recorder, run)
    state = initial_state(config, similarity=run_similarity(recorder, run, config), listeners=[deltas])
    first, last = run_span(recorder, run)
    every = max(1, math.ceil((last - first + 1) / points))
    positions: list[int] = []
    sizes: list[int] = []
    means: list[float] = []

    def sample(position: int) -> None:
        positions.append(position)
        sizes.append(len(state.records))
        means.append(deltas.total / deltas.updates if deltas.updates else 0.0)
        deltas.total, deltas.updates = 0.0, 0

    def folding(events: Iterator[Recorded]) -> Iterator[Recorded]:
        mark = min(first + every - 1, last)
        for recorded in events:
            while recorded.position > mark:  # the memory as of `mark`: before this event
                sample(mark)
                mark = min(mark + every, last)
            apply(recorded, state)
            yield recorded
        while not positions or positions[-1] < last:
            sample(mark)
            mark = min(mark + every, last)

    epochs = epoch_table(folding(recorder.read(0, run=run, types=FOLDED_TYPES)))
    return PlotSeries(tuple(epochs), tuple(positions), tuple(sizes), tuple(means))
