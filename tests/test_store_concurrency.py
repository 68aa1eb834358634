"""Concurrency with real processes: four writers append to one file at the same time."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter, defaultdict
from pathlib import Path

from store.recorder import SQLiteRecorder
from store.verify import verify
from tests.conftest import ROOT

HELPER = ROOT / "tests" / "helpers" / "concurrent_writer.py"
WRITERS, EACH = 4, 2000


def test_four_writer_processes_append_every_event_exactly_once(tmp_path: Path) -> None:
    db = tmp_path / "shared.db"  # not created beforehand: the writers race to create it
    writers = [
        subprocess.Popen([sys.executable, str(HELPER), str(db), str(w), str(EACH)], cwd=ROOT,
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for w in range(WRITERS)
    ]
    for writer in writers:
        assert writer.stdout.readline().strip() == "ready"
    for writer in writers:  # all imported: now let them go together
        writer.stdin.write("go\n")
        writer.stdin.flush()
    for writer in writers:
        out, err = writer.communicate(timeout=120)
        assert writer.returncode == 0, err
        assert out.strip() == str(EACH)

    with SQLiteRecorder(db) as recorder:
        result = verify(recorder)
        assert result.ok, result.message()
        read = list(recorder.read())
    assert [r.position for r in read] == list(range(1, WRITERS * EACH + 1))
    ids = Counter(r.event.event_id for r in read)
    assert set(ids) == {f"w{w}-{n}" for w in range(WRITERS) for n in range(EACH)}
    assert set(ids.values()) == {1}

    versions: dict[str, list[int]] = defaultdict(list)
    steps: dict[str, list[int]] = defaultdict(list)
    for r in read:
        versions[r.stream].append(r.version)
        steps[r.event.episode].append(r.event.step)
    assert set(versions) == {"shared"} | {f"w{w}/own" for w in range(WRITERS)}
    for stream, seen in versions.items():
        assert seen == list(range(1, len(seen) + 1)), f"{stream} has gaps or disorder"
    # Each writer's events keep its order, wherever they went: its batches never interleave
    # out of order with themselves.
    for episode, seen in steps.items():
        assert seen == list(range(EACH)), episode
    assert len(versions["shared"]) > 0 and all(len(versions[f"w{w}/own"]) > 0 for w in range(WRITERS))
