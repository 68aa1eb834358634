"""Recompute the hash chain and compare it with the checkpoint: is the log intact?"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import attrs

from store.recorder import GENESIS_HASH, SQLiteRecorder, StoreError, chain_hash, row_header


@attrs.frozen
class VerifyResult:
    ok: bool
    events: int
    head_position: int
    head_hash: str
    bad_position: int | None = None
    problem: str = ""

    def message(self) -> str:
        if self.ok:
            return f"ok: {self.events} events, chain head {self.head_position} {self.head_hash}"
        return f"FAILED at position {self.bad_position}: {self.problem}"


def verify(recorder: SQLiteRecorder, *, expect: tuple[int, str] | None = None,
           progress: Callable[[int], None] | None = None) -> VerifyResult:
    """Walk every row in position order; the first row whose position, hash or link is
    wrong is reported. `expect` is an outside checkpoint (position, hash) to compare to,
    on top of the one stored beside the rows. Reads one snapshot, so appends committed
    meanwhile by other writers are neither half-seen nor reported."""
    with recorder.snapshot():
        return _verify(recorder, expect, progress)


def _verify(recorder: SQLiteRecorder, expect: tuple[int, str] | None,
            progress: Callable[[int], None] | None) -> VerifyResult:
    stored_cp = recorder.chain_head()
    checkpoints = [("stored checkpoint", stored_cp)] + ([("given checkpoint", expect)] if expect else [])
    wanted = {cp[0] for _, cp in checkpoints}
    hash_at = {0: GENESIS_HASH}
    prev_hash, expected_position, count = GENESIS_HASH, 1, 0
    for row in recorder.raw_rows():
        position, stream, version, type_, schema_version, event_id, payload, recorded_at, hash_ = row
        if position != expected_position:
            return VerifyResult(False, count, expected_position - 1, prev_hash, expected_position,
                                f"event {expected_position} is missing (next stored is {position})")
        computed = chain_hash(prev_hash, row_header(position, stream, version, type_, schema_version,
                                                    event_id, recorded_at), payload)
        if computed != hash_:
            return VerifyResult(False, count, position - 1, prev_hash, position,
                                "stored hash does not match the event's content: the row was altered")
        prev_hash, expected_position, count = hash_, position + 1, count + 1
        if position in wanted:
            hash_at[position] = hash_
        if progress is not None and count % 10000 == 0:
            progress(count)
    last = expected_position - 1
    for source, (cp_position, cp_hash) in checkpoints:
        if cp_position > last:
            return VerifyResult(False, count, last, prev_hash, last + 1,
                                f"the log ends at {last} but the {source} says {cp_position}: "
                                "the tail was truncated")
        if hash_at[cp_position] != cp_hash:
            return VerifyResult(False, count, last, prev_hash, cp_position,
                                f"the hash at {cp_position} differs from the {source}: the log was rewritten")
    if stored_cp[0] < last:
        return VerifyResult(False, count, last, prev_hash, stored_cp[0] + 1,
                            f"events after {stored_cp[0]} were written outside rememberer "
                            "(the stored checkpoint does not cover them)")
    return VerifyResult(True, count, last, prev_hash)


def verify_file(path: str | Path, *, cancelled: Callable[[], bool] = lambda: False,
                poll: float = 0.05) -> VerifyResult | None:
    """`verify` of the log at `path` in a process of its own, None if `cancelled()` turns
    true first (the process is then stopped). The walk is pure CPU: in a thread it would
    share the interpreter with the caller's other threads (the TUI's screens) and slow them
    all; a child process runs on another core."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        filter(None, [str(Path(__file__).resolve().parent.parent), os.environ.get("PYTHONPATH")]))}
    child = subprocess.Popen([sys.executable, "-m", "store.verify", str(path)], env=env,
                             stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True)
    try:
        while True:
            try:
                out, err = child.communicate(timeout=poll)
                break
            except subprocess.TimeoutExpired:
                if cancelled():
                    return None
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    lines = out.splitlines()
    if child.returncode != 0 or not lines:
        raise StoreError(f"the integrity check of {path} failed (exit code {child.returncode}): "
                         f"{(err.strip().splitlines() or ['no output'])[-1]}")
    answer = json.loads(lines[-1])
    if "error" in answer:
        raise StoreError(answer["error"])
    return VerifyResult(**answer)


def _main(path: str) -> None:
    """`python -m store.verify FILE`: one JSON line, the result's fields or {"error": ...}."""
    try:
        with SQLiteRecorder(path, create=False) as recorder:
            answer = attrs.asdict(verify(recorder))
    except (StoreError, sqlite3.Error) as exc:  # a damaged file is what this is for
        answer = {"error": str(exc)}
    print(json.dumps(answer))


if __name__ == "__main__":
    _main(sys.argv[1])
