"""The log read by a helper process (store/reader_process.py): the events one process reads,
its errors word for word, a replay byte for byte, and a child that never outlives its reader."""

from __future__ import annotations

import gc
import io
import marshal
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from replay import projection, snapshots
from replay.benchmarks import synthetic_episodes, write_synthetic_run
from replay.fold import FOLDED_TYPES
from replay.projection import ReplayStats, replay_run, write_snapshots
from store import reader_process
from store.events import (
    EventValidationError,
    ExperienceRetrieved,
    LlmExchanged,
    PoolAction,
    PoolImported,
    PoolRecord,
    RecordForgotten,
)
from store.mapper import canonical_json
from store.recorder import SQLiteRecorder, StoreError
from tests.conftest import fixed_clock
from tests.replay_runs import random_runs


def insert_raw(recorder: SQLiteRecorder, run: str, type_: str, schema_version: int, payload: str) -> int:
    """A row as another version of rememberer (or damage) left it; reads do not check the chain."""
    position = recorder.max_position() + 1
    recorder.conn.execute(
        "INSERT INTO events (position, stream, run, version, event_id, type, schema_version, payload,"
        " recorded_at, hash) VALUES (?, ?, ?, 1, ?, ?, ?, ?, ?, ?)",
        (position, f"{run}/raw-{position}", run, f"raw-{position}", type_, schema_version, payload,
         fixed_clock(), "0" * 64))
    return position


def both(recorder: SQLiteRecorder, run: str, after: int = 0, types=None) -> tuple[list, list]:
    upto = recorder.max_position()
    here = list(recorder.read_events(after, run=run, upto=upto, types=types))
    there = list(reader_process.read_events(recorder, after, upto=upto, run=run, types=types))
    return here, there


def test_the_helper_reads_every_kind_of_row_as_this_process_does(tmp_path: Path) -> None:
    recorder = random_runs(tmp_path / "mixed.db", 5, runs=("a", "b"), transitions=200)
    recorder.append([PoolImported("pool.yaml", "generic", [PoolRecord("t", "o", [PoolAction("x", q=0.5, visits=2)])]),
                     RecordForgotten("t", "o", "gone"),
                     LlmExchanged("e", 0, "m", messages=[{"role": "user", "content": "é\n\"x\""}]),
                     ExperienceRetrieved("e", 0, "t", "o", records=[{"q": 1.5}])], "a", None)
    # An old schema version (upcast on reading) and a transition whose fields hold escapes.
    insert_raw(recorder, "a", "TransitionRecorded", 1, canonical_json(
        {"episode": "e", "step": 3, "observation": "cart\t\u2028", "action": "click[buy]", "reward": 1.0,
         "next_observation": "thanks", "done": True, "reason": "it matches"}))
    for run, after, types in (("a", 0, None), ("b", 0, None), ("a", 57, FOLDED_TYPES), ("a", 0, FOLDED_TYPES)):
        here, there = both(recorder, run, after, types)
        assert len(here) > 100
        assert [(p, type(e), e, repr(e)) for p, e in there] == [(p, type(e), e, repr(e)) for p, e in here]


@pytest.mark.parametrize("payload, says", [
    ('{"episode": "e", "step": ', "not valid JSON"),
    ("[" * 100_000, "nests too deeply to be read"),
], ids=["cut short", "nested too deep"])
def test_a_damaged_row_fails_in_the_helper_with_the_same_error(tmp_path: Path, payload: str, says: str) -> None:
    recorder = random_runs(tmp_path / "damaged.db", 6, transitions=40)
    bad = insert_raw(recorder, "a", "TransitionRecorded", 2, payload)
    upto = recorder.max_position()
    with pytest.raises(EventValidationError) as here:
        list(recorder.read_events(0, run="a", upto=upto))
    events = reader_process.read_events(recorder, 0, upto=upto, run="a")
    read = []
    with pytest.raises(EventValidationError) as there:
        for position, _event in events:
            read.append(position)
    assert str(there.value) == str(here.value) and says in str(here.value)
    assert read[-1] == bad - 1 and len(read) > 30  # everything before the damaged row arrived


def test_frames_are_bounded_by_size_as_well_as_by_count(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Big rows (long LLM exchanges, pools) make smaller frames, so neither process holds
    thousands of them at once."""
    recorder = random_runs(tmp_path / "big.db", 13, transitions=30)
    for n in range(6):
        recorder.append([LlmExchanged("e", n, "m", response="x" * 300_000)], "a", None)
    upto = recorder.max_position()
    from store.recorder import _SELECT_EVENTS, _ranged
    sql, params = _ranged(_SELECT_EVENTS, 0, upto, "a", None, None)
    monkeypatch.setattr(reader_process, "FRAME_BYTES", 500_000)
    out = io.BytesIO()
    reader_process._serve({"path": str(recorder.file), "sql": sql, "params": params, "timeout": 5}, out)
    data, frames = out.getvalue(), []
    while (size := int.from_bytes(data[:8], "little")):
        frames.append(marshal.loads(data[8:8 + size]))
        data = data[8 + size:]
    assert data == bytes(8)  # the end marker, and nothing after it
    # A frame closes once its rows hold 500,000 bytes: two of the big rows each.
    assert [sum(c < 0 and len(v[2]) > 300_000 for _, c, v in frame) for frame in frames] == [2, 2, 2]
    assert [p for frame in frames for p, _, _ in frame] == [p for p, _ in recorder.read_events(0, run="a", upto=upto)]


def test_no_module_in_the_working_directory_stands_in_for_the_helpers(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    recorder = random_runs(tmp_path / "log.db", 14, transitions=100)
    expected = replay_run(recorder, "a", helper=False).to_json()
    planted = tmp_path / "planted"
    (planted / "json").mkdir(parents=True)
    (planted / "json" / "__init__.py").write_text(f"open({str(planted / 'RAN')!r}, 'w').close()\nraise SystemExit('evil')\n")
    (planted / "store.py").write_text("raise SystemExit('not ours')\n")
    monkeypatch.chdir(planted)
    stats = ReplayStats()
    assert replay_run(recorder, "a", helper=True, stats=stats).to_json() == expected and stats.helper
    assert not (planted / "RAN").exists()


def test_a_file_name_not_in_utf8_is_read_too(tmp_path: Path) -> None:
    path = Path(os.fsdecode(bytes(tmp_path) + b"/caf\xe9 \xff.db"))
    recorder = random_runs(path, 15, transitions=100)
    stats = ReplayStats()
    assert (replay_run(recorder, "a", helper=True, stats=stats).to_json()
            == replay_run(recorder, "a", helper=False).to_json()) and stats.helper


@pytest.fixture(scope="module")
def long_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """About 24,000 events: more than the pipe holds, so the child is still at work after
    the first event is read."""
    path = tmp_path_factory.mktemp("long") / "long.db"
    with SQLiteRecorder(path, synchronous="OFF", clock=fixed_clock) as recorder:
        write_synthetic_run(recorder, "long", synthetic_episodes(2, 20_000, 400))
    return path


def _stat(pid: int) -> list[str] | None:
    """/proc/PID/stat's fields after the command name (state first), None if gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None


def parent_of(pid: int) -> int | None:
    fields = _stat(pid)
    return int(fields[1]) if fields else None


def alive(pid: int) -> bool:
    fields = _stat(pid)
    return fields is not None and fields[0] != "Z"  # an exited orphan may wait for init as a zombie


def all_reader_processes() -> dict[int, bytes]:
    """Every process running store.reader_process: pid -> its command line."""
    found = {}
    for entry in Path("/proc").iterdir():
        try:
            cmdline = (entry / "cmdline").read_bytes() if entry.name.isdigit() else b""
        except OSError:
            continue
        if b"store.reader_process" in cmdline:
            found[int(entry.name)] = cmdline
    return found


def reader_children() -> list[int]:
    """Processes this one started that run store.reader_process (from /proc)."""
    return [pid for pid in all_reader_processes() if parent_of(pid) == os.getpid()]


def test_closing_or_dropping_the_iterator_stops_the_child(long_run: Path) -> None:
    with SQLiteRecorder(long_run, create=False) as recorder:
        upto = recorder.max_position()
        events = reader_process.read_events(recorder, 0, upto=upto, run="long")
        next(events)
        (child,) = reader_children()
        events.close()
        assert _stat(child) is None  # killed and reaped
        events = reader_process.read_events(recorder, 0, upto=upto, run="long")
        (child,) = reader_children()
        del events
        gc.collect()
        assert _stat(child) is None


def test_a_killed_reader_is_a_one_line_error_not_a_hang(long_run: Path) -> None:
    with SQLiteRecorder(long_run, create=False) as recorder:
        events = reader_process.read_events(recorder, 0, upto=recorder.max_position(), run="long")
        next(events)
        (child,) = reader_children()
        os.kill(child, signal.SIGKILL)
        with pytest.raises(StoreError, match=r"^the process reading the log ended early: it was killed by "
                                             r"signal 9 \(SIGKILL\)$"):
            for _ in events:
                pass


def test_a_reader_that_cannot_open_the_log_says_why(tmp_path: Path) -> None:
    recorder = random_runs(tmp_path / "gone.db", 7, transitions=20)
    recorder.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # every page in the file itself
    # The recorder keeps its open file; the path now names something else.
    os.replace(tmp_path / "gone.db", tmp_path / "moved.db")
    (tmp_path / "gone.db").write_bytes(b"not a database, " * 512)
    with pytest.raises(StoreError, match=r"^the process reading the log ended early: DatabaseError: file is "
                                         r"not a database$"):
        list(reader_process.read_events(recorder, 0, upto=recorder.max_position(), run="a"))


def test_a_long_replay_uses_the_helper_and_folds_the_same_bytes(long_run: Path) -> None:
    with SQLiteRecorder(long_run, create=False) as recorder:
        upto = recorder.max_position() - 7  # an episode left open
        used, inline = ReplayStats(), ReplayStats()
        state = replay_run(recorder, "long", upto=upto, stats=used)
        assert used.helper and used.events_folded > 20_000
        expected = replay_run(recorder, "long", upto=upto, stats=inline, helper=False)
        assert not inline.helper
        assert state.to_json() == expected.to_json() and state.position == expected.position == upto


def test_the_helper_starts_after_a_snapshot_and_after_a_damaged_one(tmp_path: Path) -> None:
    recorder = random_runs(tmp_path / "snap.db", 8, runs=("a", "b"), transitions=300)
    write_snapshots(recorder, "a", every=100)
    positions = [s.position for s in snapshots.listing(recorder, "a")]
    upto = recorder.max_position()
    expected = replay_run(recorder, "a", use_snapshots=False, helper=False).to_json()
    stats = ReplayStats()
    assert replay_run(recorder, "a", helper=True, stats=stats).to_json() == expected
    assert stats.snapshot_position == positions[-1]
    # Damage the two newest: the replay passes over them and reads from the one before.
    for position in positions[-2:]:
        recorder.conn.execute("UPDATE snapshots SET content_hash = 'x' WHERE run = 'a' AND position = ?",
                              (position,))
    reports: list[str] = []
    stats = ReplayStats()
    assert replay_run(recorder, "a", upto=upto, helper=True, stats=stats, report=reports.append).to_json() == expected
    assert stats.snapshot_position == positions[-3] and len(reports) == 2


def test_snapshots_written_with_the_helper_are_the_same(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    recorder = random_runs(tmp_path / "write.db", 9, runs=("a", "b"), transitions=300)
    recorder.append([LlmExchanged("e", 0, "m")], "a", None)  # not folded, but counted in `every`
    inline = write_snapshots(recorder, "a", every=70)
    rows = sqlite3.connect(tmp_path / "write.db").execute(
        "SELECT position, content_hash FROM snapshots ORDER BY position").fetchall()
    snapshots.drop(recorder, "a")
    monkeypatch.setattr(projection, "HELPER_FROM", 1)
    started = []
    read_events = reader_process.read_events
    monkeypatch.setattr(reader_process, "read_events", lambda *a, **k: started.append(a) or read_events(*a, **k))
    assert write_snapshots(recorder, "a", every=70) == inline
    assert len(started) == 1
    assert sqlite3.connect(tmp_path / "write.db").execute(
        "SELECT position, content_hash FROM snapshots ORDER BY position").fetchall() == rows


def test_the_child_ends_when_its_reader_is_killed(long_run: Path) -> None:
    """A real `kill -9` of the reading process: the child, blocked on the full pipe, gets
    EPIPE and ends instead of lingering."""
    script = (
        "import sys, time\n"
        "from store import reader_process\n"
        "from store.recorder import SQLiteRecorder\n"
        f"recorder = SQLiteRecorder({str(long_run)!r}, create=False)\n"
        "events = reader_process.read_events(recorder, 0, upto=recorder.max_position(), run='long')\n"
        "next(events)\n"
        "print('reading', flush=True)\n"
        "time.sleep(60)\n")
    reader = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True,
                              cwd=Path(__file__).resolve().parent.parent)
    try:
        assert reader.stdout.readline() == "reading\n"
        (child,) = [pid for pid in all_reader_processes() if parent_of(pid) == reader.pid]
        reader.kill()
        reader.wait()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and alive(child):
            time.sleep(0.05)
        assert not alive(child)
    finally:
        reader.kill()
        reader.wait()


def test_ctrl_c_during_snapshot_writing_leaves_no_reader_behind(long_run: Path, tmp_path: Path) -> None:
    db = tmp_path / "copy.db"
    db.write_bytes(long_run.read_bytes())
    command = [str(Path(sys.executable).parent / "rememberer"), "snapshot", "--db", str(db), "--every", "2000"]
    writer = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    with SQLiteRecorder(db, create=False) as recorder:
        while writer.poll() is None and not snapshots.listing(recorder):
            time.sleep(0.01)
        readers = [pid for pid in all_reader_processes() if parent_of(pid) == writer.pid]
        writer.send_signal(signal.SIGINT)
        _, err = writer.communicate(timeout=60)
    assert writer.returncode == 130 and err.startswith("interrupted: "), err
    assert len(readers) == 1 and not alive(readers[0])
    assert not [pid for pid, cmdline in all_reader_processes().items() if str(db).encode() in cmdline]


def test_when_no_helper_can_start_the_replay_reads_here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    recorder = random_runs(tmp_path / "alone.db", 10, transitions=200)
    expected = replay_run(recorder, "a", helper=False).to_json()
    saved = write_snapshots(recorder, "a", every=100)
    snapshots.drop(recorder, "a")
    monkeypatch.setattr(sys, "executable", str(tmp_path / "no-such-python"))
    stats = ReplayStats()
    assert replay_run(recorder, "a", helper=True, stats=stats).to_json() == expected
    assert not stats.helper
    monkeypatch.setattr(projection, "HELPER_FROM", 1)
    assert write_snapshots(recorder, "a", every=100) == saved and len(saved) > 2


def test_a_relative_path_names_the_same_file_after_a_change_of_directory(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, seed in (("here", 11), ("there", 12)):
        (tmp_path / name).mkdir()
        random_runs(tmp_path / name / "log.db", seed, transitions=100).close()
    monkeypatch.chdir(tmp_path / "here")
    recorder = SQLiteRecorder("log.db", create=False)
    expected = replay_run(recorder, "a", helper=False).to_json()
    monkeypatch.chdir(tmp_path / "there")  # holds another log.db
    assert replay_run(recorder, "a", helper=True).to_json() == expected
    monkeypatch.chdir(tmp_path)  # holds none
    assert replay_run(recorder, "a", helper=True).to_json() == expected
    recorder.close()
