"""Tampering: with the triggers dropped, every kind of change to the log is found by
`verify`, at the right position."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest

from store.events import EpisodeEnded, EpisodeStarted, RunStarted
from store.recorder import SQLiteRecorder, StoreError, chain_hash, row_header
from store.verify import verify, verify_file
from tests.conftest import fixed_clock
from tests.recorder_contract import steps

EVENTS = 20


@pytest.fixture
def log(db_path: Path) -> Path:
    with SQLiteRecorder(db_path, clock=fixed_clock) as recorder:
        recorder.append([RunStarted("r", event_id="run")], "r", 0)
        recorder.append([EpisodeStarted("e", "buy a lamp", event_id="start")], "r/e", 0)
        recorder.append(steps("e", EVENTS - 3), "r/e", 1)
        recorder.append([EpisodeEnded("e", 1.0, True, event_id="end")], "r/e", EVENTS - 2)
        assert verify(recorder).ok
    return db_path


def untriggered(path: Path) -> sqlite3.Connection:
    """A plain connection with the append-only triggers gone: what an attacker would use."""
    conn = sqlite3.connect(path, isolation_level=None)
    for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'").fetchall():
        conn.execute(f"DROP TRIGGER {name}")
    return conn


def check(path: Path, expect: tuple[int, str] | None = None):
    with SQLiteRecorder(path) as recorder:
        return verify(recorder, expect=expect)


def head(path: Path) -> tuple[int, str]:
    with SQLiteRecorder(path) as recorder:
        return recorder.chain_head()


def rechain(conn: sqlite3.Connection, start: int) -> str:
    """Recompute every hash from `start` on, as a careful forger would; the last hash."""
    prev = conn.execute("SELECT hash FROM events WHERE position = ?", (start - 1,)).fetchone()[0]
    rows = conn.execute("SELECT position, stream, version, type, schema_version, event_id, payload,"
                        " recorded_at FROM events WHERE position >= ? ORDER BY position", (start,)).fetchall()
    for position, stream, version, type_, schema_version, event_id, payload, recorded_at in rows:
        prev = chain_hash(prev, row_header(position, stream, version, type_, schema_version, event_id,
                                           recorded_at), payload)
        conn.execute("UPDATE events SET hash = ? WHERE position = ?", (prev, position))
    return prev


def test_the_untouched_log_verifies(log: Path) -> None:
    result = check(log, expect=head(log))
    assert result.ok and result.events == EVENTS and result.head_position == EVENTS
    assert result.message().startswith(f"ok: {EVENTS} events")


def test_one_altered_payload_byte_is_found_at_its_position(log: Path) -> None:
    conn = untriggered(log)
    payload = conn.execute("SELECT payload FROM events WHERE position = 7").fetchone()[0]
    altered = payload.replace('"reward":0.0', '"reward":9.0')
    assert len(altered) == len(payload) and sum(a != b for a, b in zip(payload, altered)) == 1
    conn.execute("UPDATE events SET payload = ? WHERE position = 7", (altered,))
    result = check(log)
    assert not result.ok and result.bad_position == 7
    assert "altered" in result.problem and result.head_position == 6


@pytest.mark.parametrize("column, value", [
    ("stream", "r/other"), ("version", 99), ("event_id", "forged"), ("type", "EpisodeEnded"),
    ("schema_version", 1), ("recorded_at", "2020-01-01T00:00:00+00:00"), ("hash", "f" * 64),
])
def test_any_altered_column_is_found(log: Path, column: str, value: object) -> None:
    untriggered(log).execute(f"UPDATE events SET {column} = ? WHERE position = 12", (value,))
    result = check(log)
    assert not result.ok and result.bad_position == 12


def test_a_deleted_middle_row_is_found(log: Path) -> None:
    untriggered(log).execute("DELETE FROM events WHERE position = 10")
    result = check(log)
    assert not result.ok and result.bad_position == 10
    assert "missing" in result.problem


def test_a_truncated_tail_is_found_by_the_stored_checkpoint(log: Path) -> None:
    untriggered(log).execute("DELETE FROM events WHERE position > 15")
    result = check(log)
    assert not result.ok and result.bad_position == 16
    assert "truncated" in result.problem and result.events == 15


def test_a_rewrite_that_recomputes_later_hashes_is_caught_by_the_checkpoint(log: Path) -> None:
    conn = untriggered(log)
    payload = conn.execute("SELECT payload FROM events WHERE position = 7").fetchone()[0]
    conn.execute("UPDATE events SET payload = ? WHERE position = 7",
                 (payload.replace('"reward":0.0', '"reward":1.0'),))
    rechain(conn, 7)
    result = check(log)
    # The chain itself is consistent again; only the checkpoint's hash at 20 disagrees.
    assert not result.ok and result.bad_position == EVENTS
    assert "rewritten" in result.problem


def test_an_outside_checkpoint_catches_a_rewritten_chain_head(log: Path) -> None:
    kept = head(log)  # what an auditor noted down earlier
    conn = untriggered(log)
    payload = conn.execute("SELECT payload FROM events WHERE position = 7").fetchone()[0]
    conn.execute("UPDATE events SET payload = ? WHERE position = 7",
                 (payload.replace('"reward":0.0', '"reward":1.0'),))
    last = rechain(conn, 7)
    conn.execute("UPDATE chain_head SET hash = ?", (last,))
    assert check(log).ok  # the forgery is invisible from inside the file...
    result = check(log, expect=kept)  # ...but not to the checkpoint kept outside it
    assert not result.ok and result.bad_position == EVENTS
    assert "given checkpoint" in result.problem


def test_an_outside_checkpoint_catches_a_truncation_with_the_head_moved_back(log: Path) -> None:
    kept = head(log)
    conn = untriggered(log)
    conn.execute("DELETE FROM events WHERE position > 15")
    fifteenth = conn.execute("SELECT hash FROM events WHERE position = 15").fetchone()[0]
    conn.execute("UPDATE chain_head SET position = 15, hash = ?", (fifteenth,))
    assert check(log).ok
    result = check(log, expect=kept)
    assert not result.ok and result.bad_position == 16 and "truncated" in result.problem


def test_rows_added_outside_rememberer_are_found(log: Path) -> None:
    conn = untriggered(log)
    last = conn.execute("SELECT hash FROM events WHERE position = ?", (EVENTS,)).fetchone()[0]
    row = (EVENTS + 1, "r/e", EVENTS, "EpisodeEnded", 1, "extra", '{"episode":"e","steps":0,'
           '"success":false,"total_reward":0.0}', "2026-01-01T00:00:00.000000+00:00")
    forged = chain_hash(last, row_header(*row[:6], row[7]), row[6])
    conn.execute("INSERT INTO events (position, stream, version, type, schema_version, event_id, payload,"
                 " recorded_at, hash, run) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'r')", (*row, forged))
    result = check(log)
    assert not result.ok and result.bad_position == EVENTS + 1
    assert "outside rememberer" in result.problem


# --------------------------------------------------------------------------- in a child process


def test_verify_file_answers_as_verify_does_from_a_process_of_its_own(log: Path) -> None:
    assert verify_file(log) == check(log)
    untriggered(log).execute("UPDATE events SET payload = replace(payload, 'lamp', 'lamb') WHERE position = 2")
    tampered = verify_file(log)
    assert tampered == check(log) and not tampered.ok and tampered.bad_position == 2


def test_verify_file_says_why_it_cannot_check(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="no such database"):
        verify_file(tmp_path / "missing.db")
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"not a database at all" * 100)
    with pytest.raises(StoreError, match="junk.db"):
        verify_file(junk)


def test_a_cancelled_verify_file_stops_its_process(log: Path) -> None:
    before = live_children()
    assert verify_file(log, cancelled=lambda: True) is None
    assert live_children() == before  # killed and reaped: nothing left behind


def live_children() -> set[int]:
    """The pids of this process's children that have not exited (from /proc)."""
    pids = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            state, parent = stat.read_text().rsplit(")", 1)[1].split()[:2]
        except OSError:
            continue
        if int(parent) == os.getpid() and state != "Z":
            pids.add(int(stat.parent.name))
    return pids
