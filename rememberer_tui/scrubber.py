"""Time travel through a run's memory: its Q-table at any log position, fast both ways.

The fold only goes forward and updates its state in place, so going back means folding
again from an earlier state, and copying a state of thousands of records costs as much as
folding many events. The scrubber keeps one fold state instead, at its `frontier`, and a
journal of every record change the fold made since its `base` (a snapshot or the run's
start), each change with the record as it was before and after. The table it shows, the
mirror, can then sit at any position between base and frontier: moving there undoes or
redoes journal entries, a few per event, whatever the size of the memory. Beyond the
frontier it folds on (from a newer snapshot when that is much closer); before the base it
starts again from the nearest snapshot. The journal keeps at most `max_changes` entries,
forgetting the oldest.

Records are shown as immutable `RecordView`s, shared between the journal and the mirror,
so a view handed to the UI thread never changes under it. A scrubber is used by one
thread at a time (its `lock`), each call with that thread's own recorder.
"""

from __future__ import annotations

import threading
from bisect import bisect_right
from collections.abc import Callable, Iterable, Iterator
from contextlib import closing
from functools import partial
from typing import NamedTuple

import attrs

from replay import snapshots
from replay.fold import FOLD_VERSION, FoldState, fold_counting, fold_events, initial_state
from replay.projection import fold_input, helper_helps, load_snapshot, run_config, run_similarity, snapshot_key
from replay.similarity import Similarity
from replay.state import Record, StateKey
from store.events import Event, RLConfig
from store.recorder import SQLiteRecorder


class ActionView(NamedTuple):
    """One action of a record as of a position; `last_position` is the event whose update
    last touched it. A named tuple: the journal makes one per changed action, and a tuple
    is built several times faster than an attrs instance."""

    action: str
    q: float
    visits: int
    mean_reward: float
    last_position: int


_action_view = partial(tuple.__new__, ActionView)  # from a tuple of the fields, in C


@attrs.frozen
class RecordView:
    """A record as of a position: its actions in the order the fold added them, and the
    best one (highest Q, the earliest added on a tie), None without actions."""

    task: str
    observation: str
    actions: tuple[ActionView, ...]
    visits: int
    best: ActionView | None

    @property
    def key(self) -> StateKey:
        return (self.task, self.observation)


# A journal entry: (position, key, the record before, the record after); None = absent.
Change = tuple[int, StateKey, RecordView | None, RecordView | None]


def record_view(record: Record, before: RecordView | None = None) -> RecordView:
    """The view of `record`, reusing `before`'s unchanged actions (the journal holds one
    view per change: sharing keeps it small)."""
    old = before.actions if before is not None else ()
    reuse = len(old)
    actions = []
    best = None
    for index, (name, stats) in enumerate(record.actions.items()):
        values = (name, stats.q, stats.visits, stats.mean_reward, stats.last_position)
        view = old[index] if index < reuse and old[index] == values else _action_view(values)
        actions.append(view)
        if best is None or view.q > best.q:
            best = view
    return RecordView(record.task, record.observation, tuple(actions), record.visits, best)


def table_rows(records: list[RecordView] | tuple[RecordView, ...]) -> list[dict]:
    """The SPEC section 6 export rows of these records, as `replay.fold.qtable_rows` sorts
    them: what `rememberer qtable --json` prints for the same position."""
    rows = [{"task": r.task, "observation": r.observation, "action": a.action, "q": a.q,
             "visits": a.visits, "mean_reward": a.mean_reward}
            for r in records for a in r.actions]
    rows.sort(key=lambda row: (row["task"], row["observation"], row["action"]))
    return rows


@attrs.frozen
class Memory:
    """The memory as of `position`: what one move hands to the screen.

    `changed` are the changes the event at `position` itself made (to show what it did);
    `snapshot` the snapshot position the fold restarted from during this move, if any,
    and `folded` how many events this move folded. `serial` numbers the memories a
    scrubber hands out; `touched` maps each record that differs from memory `serial - 1`
    to its view now (None: absent), or is None when everything may differ (a restart), so
    a screen can update what it derived from the previous one instead of starting over.
    """

    run: str
    position: int
    records: tuple[RecordView, ...]
    changed: tuple[Change, ...] = ()
    snapshot: int | None = None
    folded: int = 0
    serial: int = 0
    touched: dict[StateKey, RecordView | None] | None = None


def _marked(events: Iterable[tuple[int, Event]], journal: _Journal) -> Iterator[tuple[int, Event]]:
    """The events, noting in `journal` the position of the one being folded."""
    for pair in events:
        journal.at = pair[0]
        yield pair


class _Journal:
    """The fold listener that writes the journal: every record change as (position, key,
    before, after), with `mirror`, the records as of the entries applied, kept in step."""

    def __init__(self) -> None:
        self.mirror: dict[StateKey, RecordView] = {}
        self.changes: list[Change] = []
        self.positions: list[int] = []
        self.applied = 0  # how many entries the mirror reflects
        self.at = 0  # the position being folded
        self.touched: set[StateKey] | None = None  # keys changed in the mirror (None: all)

    def start(self, records: dict[StateKey, Record]) -> None:
        self.mirror = {key: record_view(record) for key, record in records.items()}

    def seek(self, target: int) -> None:
        """Undo or redo entries until the mirror shows the memory as of `target`: each
        record touched ends as it was before its earliest undone entry, or after its
        latest redone one."""
        wanted = bisect_right(self.positions, target)
        if wanted < self.applied:
            segment = self.changes[wanted:self.applied]
            final = {key: before for _, key, before, _ in reversed(segment)}
        else:
            segment = self.changes[self.applied:wanted]
            final = {key: after for _, key, _, after in segment}
        mirror = self.mirror
        for key, view in final.items():
            if view is None:
                mirror.pop(key, None)
            else:
                mirror[key] = view
        if self.touched is not None:
            self.touched.update(final)
        self.applied = wanted

    def changed_at(self, position: int) -> tuple[Change, ...]:
        start = bisect_right(self.positions, position - 1)
        return tuple(self.changes[start:bisect_right(self.positions, position)])

    def prepend(self, older: _Journal) -> None:
        """Put the entries of the stretch just before this journal's first in front."""
        self.changes[:0] = older.changes
        self.positions[:0] = older.positions
        self.applied += len(older.changes)

    def forget(self, keep: int) -> int | None:
        """Drop the oldest entries, whole events at a time, so that about `keep` remain
        (never one the mirror does not reflect); the last dropped position, if any."""
        if len(self.changes) <= keep:
            return None
        last = self.positions[len(self.changes) - keep - 1]
        cut = min(bisect_right(self.positions, last), self.applied)
        del self.changes[:cut], self.positions[:cut]
        self.applied -= cut
        return last

    # ------------------------------------------------------------------ fold listener

    def record_added(self, record: Record) -> None:
        self._write(record.state_key, record)

    def record_changed(self, record: Record) -> None:
        self._write(record.state_key, record)

    def record_removed(self, record: Record, reason: str) -> None:
        self._write(record.state_key, None)

    def _write(self, key: StateKey, record: Record | None) -> None:
        before = self.mirror.get(key)
        after = record_view(record, before) if record is not None else None
        self.changes.append((self.at, key, before, after))
        self.positions.append(self.at)
        self.applied += 1
        if self.touched is not None:
            self.touched.add(key)
        if after is None:
            self.mirror.pop(key, None)
        else:
            self.mirror[key] = after


class Scrubber:
    """A run's memory, movable to any position; see the module docstring."""

    def __init__(self, run: str, config: RLConfig | None = None, *, max_changes: int = 400_000,
                 refold_limit: int = 20_000):
        self.run = run
        self.config = config
        self.max_changes = max_changes
        self.refold_limit = refold_limit  # fold this many events rather than load a snapshot
        self.lock = threading.Lock()
        self.base = 0  # the journal reaches back to here
        self.frontier = 0  # the fold state is here
        self.position = 0  # the mirror is here
        self.serial = 0  # memories handed out
        self._state: FoldState | None = None
        self._journal = _Journal()
        self._similarity: Similarity | None = None
        self._key: str | None = None  # the snapshots' config hash; None until resolved

    @property
    def journal_size(self) -> int:
        return len(self._journal.changes)

    @property
    def can_extend(self) -> bool:
        """Whether `extend_back` has something to do: the journal does not reach the start
        and has room."""
        return self._state is not None and self.base > 0 and len(self._journal.changes) < self.max_changes // 2

    # ------------------------------------------------------------------ moving

    def move(self, recorder: SQLiteRecorder, target: int,
             cancelled: Callable[[], bool] = lambda: False) -> Memory | None:
        """The memory as of `target` (the run's events with position <= target); None if
        `cancelled()` says so once this thread's turn comes."""
        with self.lock:
            if cancelled():
                return None
            return self._move(recorder, max(0, target))

    def _prepare(self, recorder: SQLiteRecorder) -> None:
        """Resolve the config, the run's eviction similarity (which may load an embedding
        model: here, in the worker) and the snapshots' key, once."""
        if self._key is None:
            if self.config is None:
                self.config = run_config(recorder, self.run)
            self._similarity = run_similarity(recorder, self.run, self.config)
            self._key = snapshot_key(self.config, self._similarity)

    def _move(self, recorder: SQLiteRecorder, target: int) -> Memory:
        self._prepare(recorder)
        snapshot, folded = None, 0
        if self._state is None or target < self.base:
            snapshot, folded = self._restart(recorder, target)
        elif target > self.frontier + self.refold_limit and any(
                self.frontier + self.refold_limit < p <= target for p in self._snapshot_positions(recorder)):
            snapshot, folded = self._restart(recorder, target, beyond=self.frontier)
        self._journal.seek(min(target, self.frontier))
        if target > self.frontier:
            folded += self._fold_to(recorder, target)
        self.position = target
        self.serial += 1
        journal = self._journal
        mirror = journal.mirror
        touched = None if journal.touched is None else {key: mirror.get(key) for key in journal.touched}
        journal.touched = set()
        return Memory(self.run, target, tuple(mirror.values()), journal.changed_at(target),
                      snapshot, folded, self.serial, touched)

    def _snapshot_positions(self, recorder: SQLiteRecorder) -> list[int]:
        return [s.position for s in snapshots.listing(recorder, self.run)
                if s.config_hash == self._key and s.fold_version == FOLD_VERSION]

    def _snapshot(self, recorder: SQLiteRecorder, upto: int, similarity: Similarity | None) -> FoldState | None:
        """The newest usable snapshot's state at or before `upto` (None without one)."""
        return load_snapshot(recorder, self.run, self._key, upto, self.config, similarity, None)

    def _load(self, found: FoldState | None, similarity: Similarity | None) -> FoldState:
        """The snapshot's fold state, or an empty one."""
        return found if found is not None else initial_state(self.config, similarity=similarity)

    @staticmethod
    def _journaled(state: FoldState, journal: _Journal) -> FoldState:
        """From here on, every change `state` makes goes to `journal`."""
        state.listeners = (journal,)
        journal.start(state.records)
        return state

    def _events(self, recorder: SQLiteRecorder, after: int, upto: int) -> closing[Iterator[tuple[int, Event]]]:
        """The run's events to fold in (after, upto]: a long stretch is read by a helper
        process, which stops when the block ends, however it ends."""
        return closing(fold_input(recorder, self.run, after, upto, helper_helps(recorder, self.run, after, upto))[0])

    def _restart(self, recorder: SQLiteRecorder, target: int,
                 beyond: int | None = None) -> tuple[int | None, int]:
        """Start again from the newest usable snapshot at or before `target` (the run's
        start without one); with `beyond`, only from a snapshot after that position.
        The state is folded on to just before `target` without a journal (several times
        faster), which then starts there; `extend_back` journals the stretch before it in
        the background. Returns the snapshot's position and the events folded."""
        found = self._snapshot(recorder, target, self._similarity)
        if beyond is not None and (found is None or found.position <= beyond):
            return None, 0
        state = self._load(found, self._similarity)
        start = state.position
        with self._events(recorder, start, max(start, target - 1)) as events:
            state, folded = fold_counting(events, state)
        self._journal = _Journal()
        self._state = self._journaled(state, self._journal)
        self.base = self.frontier = max(start, target - 1)
        return (start if found is not None else None), folded

    def _fold_to(self, recorder: SQLiteRecorder, target: int) -> int:
        state, journal = self._state, self._journal
        with self._events(recorder, state.position, target) as events:
            state, folded = fold_counting(_marked(events, journal), state)
        # The run's events may stop before `target`: the state is still that of `target`.
        self.frontier = max(state.position, target)
        if len(journal.changes) > self.max_changes:
            self.base = journal.forget(self.max_changes // 2)
        return folded

    def extend_back(self, recorder: SQLiteRecorder) -> bool:
        """Fold the stretch before the journal's base (from the snapshot before it, or the
        start) and put its entries in front, so stepping back past the base stays a matter
        of undoing. The long part runs without the lock: moves go on meanwhile. False if
        there was nothing to do, or the scrubber restarted elsewhere in the meantime."""
        with self.lock:
            if not self.can_extend:
                return False
            base = self.base
        older = _Journal()
        # A similarity of its own: the moves' one is in use meanwhile, by another thread.
        similarity = run_similarity(recorder, self.run, self.config)
        state = self._journaled(self._load(self._snapshot(recorder, base - 1, similarity), similarity), older)
        start = state.position
        with self._events(recorder, start, base) as events:
            fold_events(_marked(events, older), state)
        with self.lock:
            if self.base != base:
                return False
            self._journal.prepend(older)
            self.base = start
        return True
