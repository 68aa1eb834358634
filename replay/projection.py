"""A run's Q-table rebuilt from the log: as of any position, under its own or a what-if config.

Replay only reads. It starts from the newest intact snapshot at or before the target
position (replay/snapshots.py) when one exists for the same config, and folds the rest of
the run's events in position order; writing snapshots is a separate, explicit act.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from itertools import islice

import attrs

from replay import snapshots
from replay.fold import FOLDED_TYPES, FoldState, fold_counting, initial_state, json_text, qtable_rows
from replay.similarity import Similarity
from store.events import RLConfig, RunStarted
from store.recorder import SQLiteRecorder, StoreError

Report = Callable[[str], None]
# A replay folds at most this many events after loading a snapshot: on a run of a million
# transitions, `qtable --at` then answers within about 0.7 s anywhere (docs/BENCHMARKS.md),
# for snapshots taking about 5% of the log's size.
DEFAULT_SNAPSHOT_EVERY = 25_000
# How often a replay with a progress callback reports (a few times a second).
PROGRESS_EVERY = 20_000


class ReplayError(StoreError):
    """A replay that cannot be done as asked (unknown run, position beyond the log)."""


@attrs.define
class ReplayStats:
    """What a replay did, for callers that show it and tests that check it."""

    snapshot_position: int | None = None
    events_folded: int = 0


def _runs_hint(recorder: SQLiteRecorder) -> str:
    runs = recorder.runs()
    return f"runs: {', '.join(runs)}" if runs else "the database holds no runs"


def resolve_run(recorder: SQLiteRecorder, run: str | None) -> str:
    """`run` itself, or the only run in the database when `run` is None."""
    if run is not None:
        return run
    runs = recorder.runs()
    if len(runs) == 1:
        return runs[0]
    raise ReplayError("give --run: " + _runs_hint(recorder))


def run_started(recorder: SQLiteRecorder, run: str) -> RunStarted:
    first = next(iter(recorder.read_stream(run)), None)
    if first is None or not isinstance(first.event, RunStarted):
        raise ReplayError(f"no run {run!r}; {_runs_hint(recorder)}")
    return first.event


def run_config(recorder: SQLiteRecorder, run: str) -> RLConfig:
    """The RL config the run was started with (its RunStarted)."""
    return run_started(recorder, run).rl


def run_length(recorder: SQLiteRecorder, run: str) -> int:
    """How many events the run has (for progress bars)."""
    return recorder.conn.execute("SELECT count(*) FROM events WHERE run = ?", (run,)).fetchone()[0]


def check_position(recorder: SQLiteRecorder, upto: int | None) -> None:
    if upto is None:
        return
    last = recorder.max_position()
    if upto < 0 or upto > last:
        raise ReplayError(f"position {upto} is outside the log (positions 0 to {last})")


class RunSimilarity:
    """A run's own eviction similarity (`run_similarity`), named by the matcher config it was
    built from: unlike a what-if similarity, snapshots folded with it can be filed by name."""

    def __init__(self, matcher: dict, similarity: Similarity):
        self.matcher = matcher
        self.pair = similarity.pair
        self.batch = getattr(similarity, "batch", None)  # `similarities` uses it when present


def snapshot_key(config: RLConfig, similarity: Similarity | None) -> str | None:
    """The config hash snapshots are filed under: with the matcher config when the run's own
    similarity decides evictions; None when they cannot be trusted (a what-if similarity
    deciding evictions, whose identity we cannot name)."""
    if config.item_capacity is None or similarity is None:
        return snapshots.config_hash(config)
    if isinstance(similarity, RunSimilarity):
        return snapshots.config_hash(config, similarity.matcher)
    return None


def run_similarity(recorder: SQLiteRecorder, run: str, config: RLConfig) -> RunSimilarity | None:
    """The similarity a live session evicts with under item capacity: the run's own matcher
    over its stored embeddings (replay never re-embeds a known text). None when the config
    has no item capacity, where no similarity is ever asked.

    Replay writes nothing, so a text the run never embedded (an ingested or imported run,
    or a what-if capacity) is embedded in memory only. The embeddings are read through a
    connection of its own, opened on first need: the similarity may outlive `recorder` (the
    TUI keeps one in a scrubber across worker threads, each with its own recorder)."""
    if config.item_capacity is None:
        return None
    from sqlite_utils import Database

    from replay.embeddings import Embedder
    from replay.matchers.config import MatcherConfig
    from replay.retrieval import ItemSimilarity

    path, timeout = recorder.path, recorder.busy_timeout
    db: Database | None = None

    def embedder(model: str) -> Embedder:
        nonlocal db
        if db is None:
            db = Database(sqlite3.connect(path, timeout=timeout, isolation_level=None,
                                          check_same_thread=False), execute_plugins=False)
        return Embedder(model, db=db, stores=False)

    matcher = MatcherConfig.from_dict(run_started(recorder, run).matcher)
    return RunSimilarity(matcher.to_dict(), ItemSimilarity(matcher.build(embedder)))


def replay_run(recorder: SQLiteRecorder, run: str, *, upto: int | None = None,
               config: RLConfig | None = None, trail: bool = False, use_snapshots: bool = True,
               similarity: Similarity | None = None, report: Report | None = None,
               stats: ReplayStats | None = None,
               progress: Callable[[int], None] | None = None) -> FoldState:
    """Fold `run`'s events with position <= `upto` (all when None) under `config` (the
    run's own when None). An episode still open at `upto` contributes only the updates
    already applied by then. Writes nothing. `progress(position)` is told how far the
    fold has got every `PROGRESS_EVERY` events.

    A trail needs every update from the start, so `trail=True` never uses snapshots.
    """
    config = config if config is not None else run_config(recorder, run)
    check_position(recorder, upto)
    stats = stats if stats is not None else ReplayStats()
    state = None
    key = snapshot_key(config, similarity)
    if use_snapshots and not trail and key is not None:
        state = load_snapshot(recorder, run, key, upto, config, similarity, report)
        if state is not None:
            stats.snapshot_position = state.position
    if state is None:
        state = initial_state(config, similarity=similarity, trail=trail)
    events = recorder.read_events(state.position, run=run, upto=upto, types=FOLDED_TYPES)
    if progress is None:  # in one go: islice's stretches cost about 2% of a long replay
        state, folded = fold_counting(events, state)
        stats.events_folded += folded
    else:
        while True:
            state, folded = fold_counting(islice(events, PROGRESS_EVERY), state)
            stats.events_folded += folded
            progress(state.position)
            if folded < PROGRESS_EVERY:
                break
    # The events skipped (retrievals, LLM exchanges) are no-ops of the fold: the state is
    # the one after the run's last event at or before `upto`, as a live fold would say.
    state.position = max(state.position, recorder.last_position(run=run, upto=upto))
    return state


def load_snapshot(recorder: SQLiteRecorder, run: str, key: str, upto: int | None, config: RLConfig,
                   similarity: Similarity | None, report: Report | None) -> FoldState | None:
    """The state of the newest usable snapshot at or before `upto` (None without one: fold
    from the start). Snapshots are filed under `key` (`snapshot_key`). One whose hash matches
    but whose content is no state of `config` at its own position (edited by hand, hash
    and all) is reported and skipped like a damaged one, never trusted."""
    while True:
        found = snapshots.latest(recorder, run, key, upto, report)
        if found is None:
            return None
        try:
            state = FoldState.from_json(found.state_json, similarity=similarity)
            problem = (None if (state.position, state.config, state.trails) == (found.position, config, None)
                       else "it holds the state of another position or config")
        except (ValueError, KeyError, TypeError, IndexError, AttributeError) as exc:
            problem = f"its content is not a fold state ({type(exc).__name__})"
        if problem is None:
            return state
        if report is not None:
            report(f"snapshot of run {run!r} at position {found.position} is unusable ({problem}): ignored")
        upto = found.position - 1


def write_snapshots(recorder: SQLiteRecorder, run: str, *, every: int = DEFAULT_SNAPSHOT_EVERY,
                    config: RLConfig | None = None, progress: Callable[[int], None] | None = None,
                    stop: Callable[[], bool] = lambda: False) -> list[int]:
    """Fold `run` from its first event (never trusting older snapshots) and save the state
    after every `every` events of the run and at its end; return the positions saved.
    `stop()` is asked every `PROGRESS_EVERY` events and after each save: when it says so,
    the stretch under way is dropped and the positions saved so far are returned (each save
    is a transaction of its own, so the snapshots stored are exactly those).
    Under item capacity it folds with the run's own similarity, as every replay of the
    run does, and files the snapshots under its matcher config too (`snapshot_key`)."""
    if every < 1:
        raise ReplayError(f"--every must be at least 1, got {every}")
    every = min(every, 2**62)  # longer than any log: a snapshot at the end only (SQLite's LIMIT is 64-bit)
    config = config if config is not None else run_config(recorder, run)
    similarity = run_similarity(recorder, run, config)
    key = snapshot_key(config, similarity)
    identity = snapshots.config_identity(config, similarity.matcher if similarity is not None else None)
    snapshots.ensure_table(recorder)
    state = initial_state(config, similarity=similarity)
    saved: list[int] = []
    done = 0
    while True:
        # Each stretch is read to its end before the save (hence `limit`): a read left
        # open pins this connection to the log as it was, and a save made then fails as
        # soon as a live session has appended since (SQLITE_BUSY_SNAPSHOT).
        events = recorder.read_events(state.position, run=run, limit=every)
        stretch = 0
        while True:
            state, folded = fold_counting(islice(events, PROGRESS_EVERY), state)
            stretch += folded
            done += folded
            if progress is not None:
                progress(done)
            if stop():
                return saved
            if folded < PROGRESS_EVERY:
                break
        if not stretch:
            return saved
        snapshots.save(recorder, run, key, identity, state.position, recorder.event_hash(state.position),
                       state.to_json(), len(state.records))
        saved.append(state.position)
        if stop():
            return saved


def qtable_json(state: FoldState) -> str:
    """The SPEC section 6 export: one object a line, keys in export order, floats as the
    shortest decimal that reads back the same (Python's repr), byte-stable."""
    lines = [json_text(row) for row in qtable_rows(state)]
    return "[\n" + ",\n".join(lines) + "\n]" if lines else "[]"
