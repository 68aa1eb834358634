"""A run's Q-table rebuilt from the log: as of any position, under its own or a what-if config.

Replay only reads. It starts from the newest intact snapshot at or before the target
position (replay/snapshots.py) when one exists for the same config, and folds the rest of
the run's events in position order; writing snapshots is a separate, explicit act.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, nullcontext
from itertools import islice

import attrs

from replay import snapshots
from replay.fold import FOLDED_TYPES, FoldState, fold_counting, gc_paused, initial_state, json_text, qtable_rows
from replay.similarity import Similarity
from store import reader_process
from store.events import Event, RLConfig, RunStarted
from store.recorder import SQLiteRecorder, StoreError

Report = Callable[[str], None]
# A replay folds at most this many events after loading a snapshot: on a run of a million
# transitions, `qtable --at` then answers within about 0.7 s anywhere (docs/BENCHMARKS.md),
# for snapshots taking about 5% of the log's size.
DEFAULT_SNAPSHOT_EVERY = 25_000
# How often a replay with a progress callback reports (a few times a second).
PROGRESS_EVERY = 20_000
# A replay with at least this many events of the run to fold reads them in a helper
# process while it folds (store/reader_process.py): 1.3-1.5x as fast with a second processor
# free (docs/BENCHMARKS.md). Below it, starting the process (about 0.1 s) would cost more
# than it saves.
HELPER_FROM = 20_000


class ReplayError(StoreError):
    """A replay that cannot be done as asked (unknown run, position beyond the log)."""


@attrs.define
class ReplayStats:
    """What a replay did, for callers that show it and tests that check it."""

    snapshot_position: int | None = None
    events_folded: int = 0
    helper: bool = False  # the events were read by a helper process


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


def run_length(recorder: SQLiteRecorder, run: str, after: int = 0, upto: int | None = None) -> int:
    """How many events the run has (after `after`, up to `upto`): for progress bars."""
    return recorder.conn.execute(
        "SELECT count(*) FROM events WHERE run = ? AND position > ? AND position <= ?",
        (run, after, upto if upto is not None else 2**63 - 1)).fetchone()[0]


def helper_helps(recorder: SQLiteRecorder, run: str, after: int, upto: int) -> bool:
    """Whether to read the run's events in (after, upto] in a helper process: at least
    `HELPER_FROM` of them, and a helper can help (`reader_process.usable`)."""
    return (upto - after >= HELPER_FROM and run_length(recorder, run, after, upto) >= HELPER_FROM
            and reader_process.usable(recorder))


def fold_input(recorder: SQLiteRecorder, run: str, after: int, upto: int,
               helper: bool) -> tuple[Iterator[tuple[int, Event]], bool]:
    """The run's events the fold needs, positions (after, upto], read by a helper process
    or, without one or when the system refuses to start one (only slower), here; and
    whether a helper reads them."""
    events = _helper(recorder, run, after, upto, FOLDED_TYPES) if helper else None
    if events is not None:
        return events, True
    return recorder.read_events(after, run=run, upto=upto, types=FOLDED_TYPES), False


def _helper(recorder: SQLiteRecorder, run: str, after: int, upto: int,
            types: frozenset[str] | None) -> Iterator[tuple[int, Event]] | None:
    """A helper process reading the run's events in (after, upto], None if the system
    refuses to start one."""
    try:
        return reader_process.read_events(recorder, after, upto=upto, run=run, types=types)
    except OSError:
        return None


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

    path, timeout = recorder.file, recorder.busy_timeout
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
               progress: Callable[[int], None] | None = None, helper: bool | None = None) -> FoldState:
    """Fold `run`'s events with position <= `upto` (all when None) under `config` (the
    run's own when None). An episode still open at `upto` contributes only the updates
    already applied by then. Writes nothing. `progress(position)` is told how far the
    fold has got every `PROGRESS_EVERY` events. `helper`: read the events in a helper
    process (None: when `helper_helps`).

    A trail needs every update from the start, so `trail=True` never uses snapshots.
    """
    config = config if config is not None else run_config(recorder, run)
    check_position(recorder, upto)
    # Fixed now: events appended meanwhile are not folded, and the position reported
    # below is that of the last event that was.
    upto = upto if upto is not None else recorder.max_position()
    stats = stats if stats is not None else ReplayStats()
    key = snapshot_key(config, similarity)
    snapshot = use_snapshots and not trail and key is not None
    # Where the fold will start; a helper process starts reading from there at once, while
    # the snapshot loads (found below, never later than this).
    start = snapshots.latest_position(recorder, run, key, upto) if snapshot else 0
    helper = helper if helper is not None else helper_helps(recorder, run, start, upto)
    events, stats.helper = fold_input(recorder, run, start, upto, helper)
    try:
        state = load_snapshot(recorder, run, key, upto, config, similarity, report) if snapshot else None
        if state is not None:
            stats.snapshot_position = state.position
        else:
            state = initial_state(config, similarity=similarity, trail=trail)
        if state.position != start:  # a damaged snapshot was passed over: read from where the fold starts
            events.close()
            events, stats.helper = fold_input(recorder, run, state.position, upto, helper)
        with _collector_paused(config):
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
    finally:
        events.close()  # a helper process stops here, whatever happened
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
    after every `every` events of the run and at its end (the log's end when it started);
    return the positions saved.
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
    upto = recorder.max_position()
    # One read of the whole run in a helper process, or in this process one read per
    # stretch, each read to its end before the save (hence `limit`): a read left open pins
    # this connection to the log as it was, and a save made then fails as soon as a live
    # session has appended since (SQLITE_BUSY_SNAPSHOT).
    whole = _helper(recorder, run, 0, upto, None) if helper_helps(recorder, run, 0, upto) else None
    saved: list[int] = []
    done = 0
    try:
        with _collector_paused(config):
            while True:
                events = (islice(whole, every) if whole is not None
                          else recorder.read_events(state.position, run=run, upto=upto, limit=every))
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
                snapshots.save(recorder, run, key, identity, state.position,
                               recorder.event_hash(state.position), state.to_json(), len(state.records))
                saved.append(state.position)
                if stop():
                    return saved
    finally:
        if whole is not None:
            whole.close()


def _collector_paused(config: RLConfig) -> AbstractContextManager:
    """The cyclic garbage collector paused for a fold: the fold makes no reference cycles,
    so the collector would only slow it (by about a tenth). Not under item capacity, where
    the run's similarity may embed texts with a library that does."""
    return gc_paused() if config.item_capacity is None else nullcontext()


def qtable_json(state: FoldState) -> str:
    """The SPEC section 6 export: one object a line, keys in export order, floats as the
    shortest decimal that reads back the same (Python's repr), byte-stable."""
    lines = [json_text(row) for row in qtable_rows(state)]
    return "[\n" + ",\n".join(lines) + "\n]" if lines else "[]"
