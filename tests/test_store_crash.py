"""Crash safety with real processes: writers and readers killed with SIGKILL.

A fork server (tests/helpers/crash_children.py) starts the children so that each kill
costs a fork, not an interpreter start. The kill moments come from a seeded generator.
"""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

import pytest

from store.recorder import SQLiteRecorder
from store.verify import verify
from tests.conftest import ROOT
from tests.helpers.crash_children import batch_events

HELPER = ROOT / "tests" / "helpers" / "crash_children.py"
LIVES = 24


class ForkServer:
    def __init__(self) -> None:
        self.process = subprocess.Popen([sys.executable, str(HELPER)], stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, text=True, cwd=ROOT)

    def ask(self, *command: object) -> int:
        self.process.stdin.write(" ".join(map(str, command)) + "\n")
        self.process.stdin.flush()
        answer = self.process.stdout.readline()
        assert answer, "the fork server died (see its stderr above)"
        return int(answer)

    def kill(self, pid: int) -> None:
        os.kill(pid, signal.SIGKILL)
        # -9: the child was still working when killed (a crash would exit with 1).
        assert self.ask("reap", pid) == -signal.SIGKILL

    def close(self) -> None:
        self.process.stdin.close()
        self.process.wait(timeout=10)


@pytest.fixture
def server():
    server = ForkServer()
    yield server
    server.close()


def wait_for_lines(path: Path, count: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not (path.exists() and len(path.read_text().splitlines()) >= count):
        assert time.monotonic() < deadline, f"{path.name} never reached {count} lines"
        time.sleep(0.005)


def stored_batches(recorder: SQLiteRecorder) -> dict[tuple[int, int], list]:
    batches: dict[tuple[int, int], list] = defaultdict(list)
    for recorded in recorder.read():
        life, batch = map(int, recorded.event.episode.split("-"))
        batches[life, batch].append(recorded.event)
    return batches


def assert_whole(batches: dict[tuple[int, int], list]) -> None:
    for key, events in batches.items():
        size = int(events[0].action.split()[1])
        assert sorted(e.step for e in events) == list(range(size)), f"batch {key} is partial"
        assert {e.action for e in events} == {f"size {size}"}


def test_killed_writers_leave_whole_batches_and_a_valid_chain(tmp_path: Path, server: ForkServer) -> None:
    db, acks = tmp_path / "crash.db", tmp_path / "acks.txt"
    rng = random.Random(3)
    for life in range(LIVES):
        pid = server.ask("write", db, acks, life)
        if life % 4 == 0:  # now and then, kill it before it could have acknowledged anything
            time.sleep(rng.uniform(0.0, 0.02))
        else:
            time.sleep(rng.uniform(0.02, 0.25))
        server.kill(pid)

    with SQLiteRecorder(db) as recorder:
        result = verify(recorder)
        assert result.ok, result.message()
        batches = stored_batches(recorder)
        assert_whole(batches)
        # Every acknowledged batch survived; each life's batches are 0..n without holes,
        # and at most its last batch was committed without being acknowledged.
        acknowledged = {tuple(map(int, line.split())) for line in acks.read_text().splitlines()}
        assert acknowledged <= set(batches)
        for life in range(LIVES):
            numbers = sorted(b for (l, b) in batches if l == life)
            assert numbers == list(range(len(numbers)))
            assert len(numbers) - sum(1 for (l, _) in acknowledged if l == life) in (0, 1)
        assert sum(len(v) for v in batches.values()) == result.events > 0
        assert len(acknowledged) > LIVES  # the kills landed while batches were being written

        # Appending resumes where the log ends, with the chain intact.
        last = recorder.max_position()
        more = batch_events(LIVES, 0, 5, random.Random(0))
        stored = recorder.append(more, "crash/after", 0)
        assert [r.position for r in stored] == list(range(last + 1, last + 6))
        assert verify(recorder).ok


def test_killing_a_tail_reader_mid_read_harms_nothing(tmp_path: Path, server: ForkServer) -> None:
    db, acks, progress = tmp_path / "tail.db", tmp_path / "acks.txt", tmp_path / "progress.txt"
    rng = random.Random(7)
    writer = server.ask("write", db, acks, 0)
    wait_for_lines(acks, 20)  # a backlog for the reader to work through
    reader = server.ask("tail", db, progress)
    wait_for_lines(progress, 1)
    time.sleep(rng.uniform(0.005, 0.03))
    server.kill(reader)
    time.sleep(0.05)  # the writer goes on after the reader died
    server.kill(writer)
    assert len(progress.read_text().splitlines()) >= 1

    with SQLiteRecorder(db) as recorder:
        assert verify(recorder).ok
        assert_whole(stored_batches(recorder))
        # The dead reader holds no lock: a full checkpoint completes and appends go on.
        busy, _, _ = recorder.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        assert busy == 0
        recorder.append(batch_events(1, 0, 3, random.Random(0)), "crash/after", 0)
        total = recorder.max_position()
    # A new tail reader gets everything, in order.
    deadline = time.monotonic() + 10
    with SQLiteRecorder(db) as reader_again:
        positions = []
        for recorded in reader_again.tail(poll_interval=0.001, stop=lambda: time.monotonic() > deadline):
            positions.append(recorded.position)
            if recorded.position == total:
                break
    assert positions == list(range(1, total + 1))
    assert sqlite3.connect(db).execute("PRAGMA integrity_check").fetchone()[0] == "ok"
