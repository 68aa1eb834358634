"""The SQLite recorder: the shared contract plus what only SQLite has (WAL, triggers,
migrations, files that are not databases)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from store.events import RunStarted
from store.recorder import GENESIS_HASH, NotAnEventStore, SQLiteRecorder, StoreError, chain_hash, row_header
from store.mapper import canonical_json
from tests.conftest import FIXED_TIME, fixed_clock
from tests.recorder_contract import RecorderContract, steps


class TestSQLiteRecorder(RecorderContract):
    def create_recorder(self, path: Path) -> SQLiteRecorder:
        return SQLiteRecorder(path, clock=fixed_clock)


@pytest.fixture
def filled(db_path: Path) -> Path:
    with SQLiteRecorder(db_path, clock=fixed_clock) as recorder:
        recorder.append([RunStarted("r", event_id="run")], "r", 0)
        recorder.append(steps("e", 3), "r/e", 0)
    return db_path


def test_the_log_is_in_wal_mode(filled: Path) -> None:
    conn = sqlite3.connect(filled)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_synchronous_is_what_was_asked(db_path: Path) -> None:
    with SQLiteRecorder(db_path, synchronous="full") as recorder:
        assert recorder.conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    with pytest.raises(StoreError, match="synchronous must be one of"):
        SQLiteRecorder(db_path, synchronous="sometimes")


@pytest.mark.parametrize("statement, refused", [
    ("UPDATE events SET payload = '{}' WHERE position = 2", "events are append-only: UPDATE refused"),
    ("DELETE FROM events WHERE position = 4", "events are append-only: DELETE refused"),
    ("DELETE FROM events", "events are append-only: DELETE refused"),
    ("UPDATE chain_head SET position = 1", "the chain head only moves forward"),
    ("DELETE FROM chain_head", "the chain head cannot be removed"),
])
def test_the_database_refuses_to_change_history(filled: Path, statement: str, refused: str) -> None:
    conn = sqlite3.connect(filled)
    with pytest.raises(sqlite3.IntegrityError, match=refused):
        conn.execute(statement)
    conn.rollback()
    assert conn.execute("SELECT count(*) FROM events").fetchone()[0] == 4
    assert conn.execute("SELECT position FROM chain_head").fetchone()[0] == 4


def test_rows_hold_the_hash_chain_and_the_injected_clock(filled: Path) -> None:
    conn = sqlite3.connect(filled)
    prev = GENESIS_HASH
    rows = conn.execute("SELECT position, stream, version, type, schema_version, event_id, payload,"
                        " recorded_at, hash, run FROM events ORDER BY position").fetchall()
    for position, stream, version, type_, schema_version, event_id, payload, recorded_at, hash_, run in rows:
        assert recorded_at == FIXED_TIME
        assert run == stream.split("/")[0]
        prev_expected = chain_hash(prev, row_header(position, stream, version, type_, schema_version,
                                                    event_id, recorded_at), payload)
        assert hash_ == prev_expected
        prev = hash_
    assert conn.execute("SELECT position, hash FROM chain_head").fetchone() == (4, prev)


def test_the_row_header_is_the_canonical_json_of_its_fields() -> None:
    # row_header is built by hand for speed; it must stay what canonical_json gives.
    fields = (12, 'run "x"/ep\\1\n', 3, "TransitionRecorded", 2, "id-é-✓", "2026-01-01T00:00:00+00:00")
    assert row_header(*fields) == canonical_json(list(fields))


def test_opening_twice_applies_the_migrations_once(filled: Path) -> None:
    first = SQLiteRecorder(filled)
    second = SQLiteRecorder(filled)
    applied = first.conn.execute("SELECT name FROM _sqlite_migrations").fetchall()
    assert applied == [("m001_events",)]
    assert [r.event.event_id for r in second.read()] == ["run", "e-0", "e-1", "e-2"]
    first.close()
    second.close()


def test_a_directory_is_refused(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="is a directory, not a database file"):
        SQLiteRecorder(tmp_path)


def test_a_file_that_is_not_a_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("these are my notes, not a database\n" * 100)
    with pytest.raises(NotAnEventStore, match="notes.txt: not a rememberer database"):
        SQLiteRecorder(path)
    assert path.read_text().startswith("these are my notes")


def test_another_sqlite_database_is_left_untouched(tmp_path: Path) -> None:
    path = tmp_path / "app.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE users (id INTEGER)")
    conn.close()
    before = path.read_bytes()
    for create in (True, False):
        with pytest.raises(NotAnEventStore, match=r"app.db: not a rememberer database \(it holds other tables: users\)"):
            SQLiteRecorder(path, create=create)
    assert path.read_bytes() == before and not Path(f"{path}-wal").exists()


def test_an_empty_file_becomes_a_store_only_when_asked(tmp_path: Path) -> None:
    path = tmp_path / "empty.db"
    path.touch()
    with pytest.raises(NotAnEventStore, match="empty.db: not a rememberer database \\(it holds no event log\\)"):
        SQLiteRecorder(path, create=False)
    assert path.stat().st_size == 0
    SQLiteRecorder(path).close()
    with SQLiteRecorder(path, create=False) as recorder:
        assert recorder.max_position() == 0


def test_a_missing_file_or_folder_gives_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="no such database"):
        SQLiteRecorder(tmp_path / "missing.db", create=False)
    assert not (tmp_path / "missing.db").exists()
    with pytest.raises(StoreError, match="cannot open"):
        SQLiteRecorder(tmp_path / "no-such-folder" / "x.db")


def test_a_snapshot_does_not_see_later_commits(filled: Path) -> None:
    reader, writer = SQLiteRecorder(filled), SQLiteRecorder(filled)
    with reader.snapshot():
        assert reader.max_position() == 4
        writer.append(steps("f", 2), "r/f", 0)
        assert reader.max_position() == 4
        assert reader.chain_head()[0] == 4
    assert reader.max_position() == 6
    reader.close()
    writer.close()
