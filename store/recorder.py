"""The SQLite recorder: an append-only, hash-chained event log in one file.

Interface (what any backend must offer, see tests/recorder_contract.py):
`append`, `append_batches`, `read`, `read_events`, `read_stream`, `event_hash`,
`stream_version`, `max_position`, `tail`.

Streams are named `RUN` (run-level events) or `RUN/EPISODE`; the part before the first
`/` is the run, stored in its own indexed column so one run replays without a scan.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import time
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timezone
from json.encoder import encode_basestring as _json_str
from pathlib import Path

import attrs
import sqlite_utils

from store.events import Event
from store.mapper import canonical_json, from_row_fields, to_row_fields
from store.schema import MIGRATIONS

GENESIS_HASH = "0" * 64
SYNCHRONOUS_MODES = ("OFF", "NORMAL", "FULL", "EXTRA")


class StoreError(Exception):
    """Base of the store's errors: each carries a one-line message for the user."""


class ConcurrencyConflict(StoreError):
    def __init__(self, stream: str, expected: int, actual: int):
        super().__init__(
            f"stream {stream!r} is at version {actual}, not the expected {expected}: "
            "another writer appended first"
        )
        self.stream, self.expected, self.actual = stream, expected, actual


class DuplicateEventId(StoreError):
    """An event id already in the log arrived with different content or in a different batch."""


class NotAnEventStore(StoreError):
    pass


@attrs.frozen(slots=False)
class Recorded:
    """An event with its place in the log (dict-based, like events: faster to create)."""

    position: int
    stream: str
    version: int
    recorded_at: str
    hash: str
    event: Event

    @property
    def run(self) -> str:
        return run_of(self.stream)

    @property
    def type(self) -> str:
        return self.event.TYPE


@attrs.frozen
class StreamBatch:
    """Events for one stream. `expected_version` None means "wherever the stream is"."""

    stream: str
    events: Sequence[Event]
    expected_version: int | None = None


def run_of(stream: str) -> str:
    return stream.split("/", 1)[0]


def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="microseconds")


def chain_hash(prev_hash: str, header: str, payload: str) -> str:
    """sha256(previous hash || canonical event); the canonical event is header + payload."""
    return hashlib.sha256(f"{prev_hash}{header}\n{payload}".encode()).hexdigest()


def row_header(position: int, stream: str, version: int, type_: str, schema_version: int,
               event_id: str, recorded_at: str) -> str:
    """The row's place and identity as a canonical JSON array (what `canonical_json` of the
    list gives, built directly: this runs once per event on every append and verify)."""
    return (f"[{position:d},{_json_str(stream)},{version:d},{_json_str(type_)},{schema_version:d},"
            f"{_json_str(event_id)},{_json_str(recorded_at)}]")


_SELECT = (
    "SELECT position, stream, version, type, schema_version, event_id, payload, recorded_at, hash "
    "FROM events"
)


def _decoded(rows: Iterable[tuple]) -> Iterator[Recorded]:
    """Recorded events from `_SELECT` rows (one loop, no call per row: reads are hot)."""
    for position, stream, version, type_, schema_version, event_id, payload, recorded_at, hash_ in rows:
        yield Recorded(position, stream, version, recorded_at, hash_,
                       from_row_fields(type_, schema_version, payload, event_id))


_SELECT_EVENTS = "SELECT position, type, schema_version, payload, event_id FROM events"


def _positioned(rows: Iterable[tuple]) -> Iterator[tuple[int, Event]]:
    """(position, event) pairs from `_SELECT_EVENTS` rows."""
    for position, type_, schema_version, payload, event_id in rows:
        yield position, from_row_fields(type_, schema_version, payload, event_id)


def _ranged(select: str, after: int, upto: int | None, run: str | None,
            types: Collection[str] | None, limit: int | None) -> tuple[str, list]:
    """`select` restricted to positions in (after, upto], one run and some types, in order."""
    sql, params = f"{select} WHERE position > ?", [after]
    if upto is not None:
        sql += " AND position <= ?"
        params.append(upto)
    if run is not None:
        sql += " AND run = ?"
        params.append(run)
    if types is not None:
        sql += f" AND type IN ({','.join('?' * len(types))})"
        params.extend(sorted(types))
    sql += " ORDER BY position"
    if limit is not None:
        sql += " LIMIT ?"
        params.append(limit)
    return sql, params


class SQLiteRecorder:
    """One connection per recorder; open one per thread or process."""

    def __init__(
        self,
        path: str | Path,
        *,
        synchronous: str | None = None,
        busy_timeout: float = 30.0,
        clock: Callable[[], str] = utc_now,
        create: bool = True,
    ):
        self.path = Path(path)  # as given, for messages
        # What other connections open (a helper process, the embeddings' reader): a later
        # change of the working directory must not make a relative path name another file.
        self.file = self.path.absolute()
        # NORMAL by default (see README: a power loss may lose the last commits, never
        # corrupt); REMEMBERER_SYNCHRONOUS=FULL makes every commit survive power loss.
        synchronous = (synchronous or os.environ.get("REMEMBERER_SYNCHRONOUS", "NORMAL")).upper()
        if synchronous not in SYNCHRONOUS_MODES:
            raise StoreError(f"synchronous must be one of {', '.join(SYNCHRONOUS_MODES)}")
        if self.path.is_dir():
            raise StoreError(f"{self.path} is a directory, not a database file")
        if not create and not self.path.exists():
            raise StoreError(f"{self.path}: no such database")
        self.busy_timeout = busy_timeout
        self.clock = clock
        # isolation_level=None: we issue BEGIN IMMEDIATE ourselves, so a writer takes the
        # write lock before reading the chain head and two writers never interleave.
        try:
            conn = sqlite3.connect(str(self.path), timeout=busy_timeout, isolation_level=None,
                                   check_same_thread=False)
        except sqlite3.Error as exc:
            raise StoreError(f"{self.path}: cannot open ({exc})") from None
        try:
            conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
            self._check_is_ours(conn, create)
            mode = self._switch_to_wal(conn)
        except sqlite3.DatabaseError as exc:
            conn.close()
            if "readonly" in str(exc):
                raise StoreError(f"{self.path}: cannot be opened read-only ({exc}): SQLite writes its "
                                 "-wal and -shm files beside a database, even to read it") from None
            raise NotAnEventStore(f"{self.path}: not a rememberer database ({exc})") from None
        except StoreError:
            conn.close()
            raise
        if mode.lower() != "wal":
            conn.close()
            raise StoreError(f"{self.path}: could not switch to WAL mode (got {mode})")
        conn.execute(f"PRAGMA synchronous = {synchronous}")
        self.conn = conn
        self.db = sqlite_utils.Database(conn, execute_plugins=False)
        self._migrate()

    def _check_is_ours(self, conn: sqlite3.Connection, create: bool) -> None:
        """Leave any other SQLite file as it is: the schema is only ever created in an empty
        file, and only when `create` (a file that merely exists is not a store to read)."""
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if "events" in tables:
            return
        others = sorted(tables - {"_sqlite_migrations"})  # that one alone: a first open under way
        if others:
            shown = ", ".join(others[:5]) + (", ..." if len(others) > 5 else "")
            raise NotAnEventStore(f"{self.path}: not a rememberer database (it holds other tables: {shown})")
        if not create:
            raise NotAnEventStore(f"{self.path}: not a rememberer database (it holds no event log)")

    def _switch_to_wal(self, conn: sqlite3.Connection) -> str:
        """Switching a new file to WAL needs a lock SQLite does not wait for through the
        busy handler: when several processes create one file at once, retry until the
        busy timeout."""
        deadline = time.monotonic() + self.busy_timeout
        while True:
            try:
                return conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(0.01)

    # ------------------------------------------------------------------ schema

    def _migrate(self) -> None:
        if not MIGRATIONS.pending(self.db):
            return
        # Serialise concurrent first opens: migrations run under the write lock.
        self._begin_immediate()
        try:
            MIGRATIONS.apply(self.db)
            self.conn.execute("COMMIT")
        except BaseException:
            if self.conn.in_transaction:
                self.conn.execute("ROLLBACK")
            raise

    def _begin_immediate(self) -> None:
        # busy_timeout makes SQLite wait for the lock; the loop covers the rare cases where
        # it reports SQLITE_BUSY at once (a WAL recovery in progress, for example).
        deadline = time.monotonic() + self.busy_timeout
        delay = 0.001
        while True:
            try:
                self.conn.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) and "busy" not in str(exc):
                    raise
                if time.monotonic() > deadline:
                    raise StoreError(f"{self.path}: database stayed locked for {self.busy_timeout:g}s") from None
                time.sleep(delay)
                delay = min(delay * 2, 0.05)

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> SQLiteRecorder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ writing

    def append(self, events: Sequence[Event], stream: str, expected_version: int | None) -> list[Recorded]:
        """Append events to one stream in one transaction; see `append_batches`."""
        return self.append_batches([StreamBatch(stream, events, expected_version)])

    def append_batches(self, batches: Sequence[StreamBatch]) -> list[Recorded]:
        """Append several streams' events atomically: all of them or none.

        Raises `ConcurrencyConflict` when a stream is not at its expected version. A batch
        whose event ids are all already stored (a retry) appends nothing and returns the
        stored events; a batch with only some of them stored is a `DuplicateEventId`.
        """
        ids = [e.event_id for b in batches for e in b.events]
        if len(set(ids)) != len(ids):
            raise DuplicateEventId("the events to append repeat an event id")
        prepared = [(b, [(e, *to_row_fields(e)) for e in b.events]) for b in batches]
        self._begin_immediate()
        try:
            result = self._append_locked(prepared)
            self.conn.execute("COMMIT")
        except BaseException:
            if self.conn.in_transaction:
                self.conn.execute("ROLLBACK")
            raise
        return result

    def _append_locked(self, prepared: list) -> list[Recorded]:
        conn = self.conn
        head = conn.execute("SELECT position, hash FROM events ORDER BY position DESC LIMIT 1").fetchone()
        position, prev_hash = head if head else (0, GENESIS_HASH)
        recorded_at = self.clock()
        rows: list[tuple] = []
        result: list[Recorded] = []
        versions: dict[str, int] = {}  # a stream may come twice; its rows are not stored yet
        for batch, items in prepared:
            existing = self._existing(batch, items)
            if existing is not None:
                result.extend(existing)
                continue
            version = versions.get(batch.stream)
            if version is None:
                version = self.stream_version(batch.stream)
            if batch.expected_version is not None and version != batch.expected_version:
                raise ConcurrencyConflict(batch.stream, batch.expected_version, version)
            run = run_of(batch.stream)
            for event, type_, schema_version, payload in items:
                position += 1
                version += 1
                header = row_header(position, batch.stream, version, type_, schema_version,
                                    event.event_id, recorded_at)
                prev_hash = chain_hash(prev_hash, header, payload)
                rows.append((position, batch.stream, run, version, event.event_id, type_,
                             schema_version, payload, recorded_at, prev_hash))
                result.append(Recorded(position, batch.stream, version, recorded_at, prev_hash, event))
            versions[batch.stream] = version
        if rows:
            conn.executemany(
                "INSERT INTO events (position, stream, run, version, event_id, type, schema_version,"
                " payload, recorded_at, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                rows,
            )
            conn.execute(
                "INSERT INTO chain_head (id, position, hash) VALUES (1, ?, ?) "
                "ON CONFLICT(id) DO UPDATE SET position = excluded.position, hash = excluded.hash",
                (position, prev_hash),
            )
        return result

    def _existing(self, batch: StreamBatch, items: list) -> list[Recorded] | None:
        """The stored events if this batch was appended before (a retry), else None."""
        ids = [event.event_id for event, *_ in items]
        if not ids:
            return None
        found: dict[str, tuple] = {}
        for chunk_start in range(0, len(ids), 500):
            chunk = ids[chunk_start:chunk_start + 500]
            marks = ",".join("?" * len(chunk))
            for row in self.conn.execute(f"{_SELECT} WHERE event_id IN ({marks})", chunk):
                found[row[5]] = row
        if not found:
            return None
        same = len(found) == len(ids) and all(
            found[event.event_id][1] == batch.stream
            and found[event.event_id][3] == type_
            and found[event.event_id][6] == payload
            for event, type_, _, payload in items
        )
        if not same:
            first = next(iter(found))
            raise DuplicateEventId(
                f"event id {first} is already stored with other content or in another batch"
            )
        return list(_decoded(found[i] for i in ids))

    # ------------------------------------------------------------------ reading

    def max_position(self) -> int:
        row = self.conn.execute("SELECT max(position) FROM events").fetchone()
        return row[0] or 0

    def stream_version(self, stream: str) -> int:
        row = self.conn.execute("SELECT max(version) FROM events WHERE stream = ?", (stream,)).fetchone()
        return row[0] or 0

    def read(self, after: int = 0, limit: int | None = None, *, run: str | None = None,
             upto: int | None = None, types: Collection[str] | None = None) -> Iterator[Recorded]:
        """Events with position > after (and <= upto), in position order, optionally one run's
        and only of some types (replay skips the big payloads the fold ignores)."""
        sql, params = _ranged(_SELECT, after, upto, run, types, limit)
        return _decoded(self.conn.execute(sql, params))

    def read_events(self, after: int = 0, limit: int | None = None, *, run: str | None = None,
                    upto: int | None = None, types: Collection[str] | None = None
                    ) -> Iterator[tuple[int, Event]]:
        """`read`, as (position, event) pairs: what a fold needs. It leaves out the stream,
        version, time and hash, whose columns cost a replay of a long run about a tenth
        of its time."""
        sql, params = _ranged(_SELECT_EVENTS, after, upto, run, types, limit)
        return _positioned(self.conn.execute(sql, params))

    def event_hash(self, position: int) -> str:
        """The chain hash of the event at `position` (what a snapshot is pinned to)."""
        row = self.conn.execute("SELECT hash FROM events WHERE position = ?", (position,)).fetchone()
        if row is None:
            raise StoreError(f"the log holds no event at position {position}")
        return row[0]

    def last_position(self, *, run: str | None = None, upto: int | None = None) -> int:
        """The position of the last event (of `run`, at or before `upto`); 0 if none."""
        sql, params = "SELECT max(position) FROM events WHERE position <= ?", [upto if upto is not None else 2**63 - 1]
        if run is not None:
            sql += " AND run = ?"
            params.append(run)
        return self.conn.execute(sql, params).fetchone()[0] or 0

    def read_stream(self, stream: str, after_version: int = 0) -> list[Recorded]:
        rows = self.conn.execute(
            f"{_SELECT} WHERE stream = ? AND version > ? ORDER BY version", (stream, after_version)
        )
        return list(_decoded(rows))

    def runs(self) -> list[str]:
        return [r[0] for r in self.conn.execute("SELECT DISTINCT run FROM events ORDER BY run")]

    def tail(self, after: int = 0, *, poll_interval: float = 0.05, run: str | None = None,
             stop: Callable[[], bool] = lambda: False, batch: int = 1000) -> Iterator[Recorded]:
        """Yield events after `after` as they are appended, by this or other processes.

        Polls `PRAGMA data_version` (which changes when another connection commits) and
        this connection's own change count, so an idle tail costs one cheap query per
        interval. Ends when `stop()` is true.
        """
        last = after
        seen = None
        while not stop():
            changes = (self.conn.execute("PRAGMA data_version").fetchone()[0], self.conn.total_changes)
            if changes != seen:
                seen = changes
                while True:
                    got = list(self.read(last, batch, run=run))
                    for recorded in got:
                        last = recorded.position
                        yield recorded
                    if len(got) < batch:
                        break
                continue
            time.sleep(poll_interval)

    @contextmanager
    def snapshot(self) -> Iterator[SQLiteRecorder]:
        """Several reads that see one state of the log, whatever other writers commit meanwhile."""
        self.conn.execute("BEGIN")
        try:
            yield self
        finally:
            self.conn.execute("ROLLBACK")

    def chain_head(self) -> tuple[int, str]:
        """The checkpoint (last position, last hash) kept beside the rows."""
        row = self.conn.execute("SELECT position, hash FROM chain_head WHERE id = 1").fetchone()
        return row if row else (0, GENESIS_HASH)

    def raw_rows(self, after: int = 0) -> Iterator[tuple]:
        """Rows as stored, undecoded: for `verify`, which must not trust the mapper."""
        yield from self.conn.execute(
            "SELECT position, stream, version, type, schema_version, event_id, payload, recorded_at, hash "
            "FROM events WHERE position > ? ORDER BY position",
            (after,),
        )


def dumps_event(recorded: Recorded) -> str:
    """One JSON line for `rememberer log --json`."""
    type_, schema_version, payload = to_row_fields(recorded.event)
    return canonical_json({
        "position": recorded.position,
        "stream": recorded.stream,
        "version": recorded.version,
        "type": type_,
        "schema_version": schema_version,
        "event_id": recorded.event.event_id,
        "recorded_at": recorded.recorded_at,
        "hash": recorded.hash,
        "payload": json.loads(payload),
    })
