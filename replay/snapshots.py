"""Snapshots: fold states saved beside the log so a replay need not start from position 0.

They are derived and disposable. They live in their own table, created by their own
migration set, and are never events: writing or dropping them leaves the events table and
its hash chain untouched, and a replay without them gives the same table, only slower.
A snapshot is used only for the same run, config hash and fold code version, only if its
content still hashes to what was stored with it, and only if the log still holds, at the
snapshot's position, the event (by its chain hash) the state was folded up to.
"""

from __future__ import annotations

import hashlib
import zlib
from collections.abc import Callable

import attrs
from sqlite_utils import Database, Migrations

from replay.fold import FOLD_VERSION
from store.events import RLConfig
from store.mapper import canonical_json
from store.recorder import SQLiteRecorder


TABLE = "snapshots"
DERIVED_MIGRATIONS = Migrations("rememberer.derived")


@DERIVED_MIGRATIONS()
def m001_snapshots(db: Database) -> None:
    _create_table(db)


def _create_table(db: Database) -> None:
    db[TABLE].create(
        {
            "run": str,
            "config_hash": str,
            "position": int,
            "fold_version": int,
            "content_hash": str,
            "event_hash": str,
            "config": str,
            "records": int,
            "state": bytes,
        },
        pk=("run", "config_hash", "position", "fold_version"),
        not_null={"content_hash", "event_hash", "config", "records", "state"},
        strict=True,
        if_not_exists=True,
    )


def ensure_table(recorder: SQLiteRecorder) -> None:
    """Create the table if needed, also when someone dropped it by hand after the migration."""
    conn = recorder.conn
    conn.execute("BEGIN IMMEDIATE")
    try:
        DERIVED_MIGRATIONS.apply(recorder.db)
        _create_table(recorder.db)
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def config_identity(config: RLConfig, matcher: dict | None = None) -> str:
    """Canonical JSON of what the fold's result depends on besides the events and its code:
    the RL config and, when a run's own matcher decides evictions (`projection.snapshot_key`),
    that matcher's config. Without a matcher it is what it always was, so older snapshots stay
    valid. Code is covered by `FOLD_VERSION`: the fold's default similarity, and the matchers'
    scores too (a change to either must bump it)."""
    identity = {"rl": config.to_dict()}
    if matcher is not None:
        identity["matcher"] = matcher
    return canonical_json(identity)


def config_hash(config: RLConfig, matcher: dict | None = None) -> str:
    return hashlib.sha256(config_identity(config, matcher).encode()).hexdigest()


def content_hash(state_json: str) -> str:
    return hashlib.sha256(state_json.encode()).hexdigest()


@attrs.frozen
class Snapshot:
    """A stored snapshot's key and description (without its state)."""

    run: str
    config_hash: str
    position: int
    fold_version: int
    content_hash: str
    config: str
    records: int
    size: int


@attrs.frozen
class Loaded:
    """A snapshot whose content matched its hash: the state's JSON, ready for `from_json`."""

    position: int
    state_json: str


def _exists(recorder: SQLiteRecorder) -> bool:
    return recorder.db[TABLE].exists()


def save(recorder: SQLiteRecorder, run: str, cfg_hash: str, config: str, position: int,
         event_hash: str, state_json: str, records: int) -> None:
    """Store (or replace) the snapshot of `run` under `cfg_hash`, folded up to the event at
    `position` whose chain hash is `event_hash`."""
    recorder.conn.execute(
        f"INSERT OR REPLACE INTO {TABLE} (run, config_hash, position, fold_version, content_hash,"
        " event_hash, config, records, state) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (run, cfg_hash, position, FOLD_VERSION, content_hash(state_json), event_hash, config,
         records, zlib.compress(state_json.encode(), 6)),
    )


def latest_position(recorder: SQLiteRecorder, run: str, cfg_hash: str, upto: int) -> int:
    """The position of the newest snapshot at or before `upto` (0 without one), before any
    check of it: where a replay will most likely start."""
    if not _exists(recorder):
        return 0
    return recorder.conn.execute(
        f"SELECT max(position) FROM {TABLE} WHERE run = ? AND config_hash = ? AND fold_version = ?"
        " AND position <= ?", (run, cfg_hash, FOLD_VERSION, upto)).fetchone()[0] or 0


def latest(recorder: SQLiteRecorder, run: str, cfg_hash: str, upto: int | None,
           report: Callable[[str], None] | None = None) -> Loaded | None:
    """The newest usable snapshot at or before `upto`; damaged ones, and ones folded from
    another log, are reported and skipped."""
    if not _exists(recorder):
        return None
    limit = upto if upto is not None else 2**63 - 1
    rows = recorder.conn.execute(
        f"SELECT s.position, s.content_hash, s.state, s.event_hash IS e.hash FROM {TABLE} s"
        " LEFT JOIN events e ON e.position = s.position"
        " WHERE s.run = ? AND s.config_hash = ? AND s.fold_version = ? AND s.position <= ?"
        " ORDER BY s.position DESC",
        (run, cfg_hash, FOLD_VERSION, limit))
    for position, stored_hash, blob, same_log in rows:
        problem = None if same_log else "the log holds another event at that position"
        if problem is None:
            try:
                state_json = zlib.decompress(blob).decode()
            except (zlib.error, UnicodeDecodeError, TypeError):
                state_json = ""
            if content_hash(state_json) == stored_hash:
                return Loaded(position, state_json)
            problem = "its content does not match its hash"
        if report is not None:
            report(f"snapshot of run {run!r} at position {position} is damaged ({problem}): ignored")
    if report is not None:
        stale = recorder.conn.execute(
            f"SELECT count(*) FROM {TABLE} WHERE run = ? AND config_hash = ? AND fold_version != ?"
            " AND position <= ?", (run, cfg_hash, FOLD_VERSION, limit)
        ).fetchone()[0]
        if stale:
            report(f"{stale} snapshot(s) of run {run!r} were written by another version of the fold "
                   f"and are not used: run `rememberer snapshot --run {run}` to write them again")
    return None


def listing(recorder: SQLiteRecorder, run: str | None = None) -> list[Snapshot]:
    if not _exists(recorder):
        return []
    sql = (f"SELECT run, config_hash, position, fold_version, content_hash, config, records,"
           f" length(state) FROM {TABLE}")
    params: list = []
    if run is not None:
        sql += " WHERE run = ?"
        params.append(run)
    rows = recorder.conn.execute(sql + " ORDER BY run, config_hash, position", params)
    return [Snapshot(*row) for row in rows]


def drop(recorder: SQLiteRecorder, run: str | None = None) -> int:
    """Delete the snapshots of `run` (all runs' if None); return how many went."""
    if not _exists(recorder):
        return 0
    where, params = ("WHERE run = ?", [run]) if run is not None else ("", [])
    return recorder.conn.execute(f"DELETE FROM {TABLE} {where}", params).rowcount
