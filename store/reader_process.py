"""The log read and decoded in a second process, so that a long replay folds while the
next events are being read.

Reading a row (SQLite, JSON, the checks of store/mapper.py) costs about as much as folding
it, and one Python process does one at a time. Here a child process (`python -m
store.reader_process`) runs the very query `SQLiteRecorder.read_events` runs, checks each
row with the mapper's own `hot_row` and sends the checked values back in marshal frames
over a pipe; the parent turns each into its event (`hot_event`) and folds. A row
the fast path does not take (another type, an old schema version, a damaged row) is sent
as stored and decoded by the parent with `from_row_fields`, so it reads, or fails, exactly
as it would in one process.

The child reads its own consistent view of positions (after, upto]; positions are never
rewritten, so that is the same set of events the parent would read. It ignores Ctrl-C (it
runs in a session of its own) and ends when the parent closes the pipe or kills it.
"""

from __future__ import annotations

import json
import marshal
import os
import signal
import sqlite3
import struct
import subprocess
import sys
from collections.abc import Collection, Iterator
from operator import itemgetter
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote

from store.events import Event
from store.mapper import _PAYLOAD_FIELDS, HOT_TYPES, from_row_fields, hot_event, hot_row

if TYPE_CHECKING:
    from store.recorder import SQLiteRecorder

# A frame ends after 2,000 events (about 0.7 MB of marshal data: the parent's first wait
# is short) or once its rows hold 4 MB (runs with big rows, pools or LLM exchanges, keep
# both processes' memory bounded).
FRAME_EVENTS = 2000
FRAME_BYTES = 4 << 20
_LENGTH = struct.Struct("<Q")
_END = _LENGTH.pack(0)
_CODES = {cls: code for code, cls in enumerate(HOT_TYPES)}
# A checked row crosses as its values, in the class's field order with the event id last
# (a third smaller than the dict, and faster both ways); the parent puts the names back,
# interned, as attribute lookups want them.
_NAMES = [tuple(map(sys.intern, (*_PAYLOAD_FIELDS[cls], "event_id"))) for cls in HOT_TYPES]
_VALUES = [itemgetter(*names) for names in _NAMES]


def usable(recorder: SQLiteRecorder) -> bool:
    """Whether a helper process can help: a database file, an interpreter to start, and
    more than one processor for the two processes to run on."""
    if not recorder.file.is_file() or not sys.executable:
        return False
    try:
        processors = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        processors = os.cpu_count() or 1
    return processors > 1


def read_events(recorder: SQLiteRecorder, after: int, *, upto: int, run: str | None = None,
                types: Collection[str] | None = None) -> Iterator[tuple[int, Event]]:
    """`recorder.read_events(after, run=run, upto=upto, types=types)`, read and checked by
    a child process, started at once (so it reads while the caller prepares). Closing the
    iterator, or dropping it, stops the child. `upto` is required: the parent and the
    child must mean the same events, whatever is appended meanwhile."""
    from store.recorder import _SELECT_EVENTS, _ranged  # not in the child: it needs no sqlite-utils

    sql, params = _ranged(_SELECT_EVENTS, after, upto, run, types, None)
    spec = json.dumps({"path": str(recorder.file), "sql": sql, "params": params,
                       "timeout": recorder.busy_timeout})
    root = str(Path(__file__).resolve().parent.parent)  # where `store` is importable from
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, (root, os.environ.get("PYTHONPATH"))))}
    # -P: the working directory is not put on the path, so no module there can stand in
    # for ours (or for the standard library's).
    child = subprocess.Popen([sys.executable, "-P", "-m", "store.reader_process", spec], stdin=subprocess.DEVNULL,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, start_new_session=True)
    events = _events(child)
    next(events)  # into the try: from now on, closing the iterator stops the child
    return events


def _events(child: subprocess.Popen) -> Iterator[tuple[int, Event]]:
    try:
        yield None  # type: ignore[misc] - taken by `read_events`
        yield from _received(child)
    finally:
        if child.poll() is None:
            child.kill()
        child.wait()
        child.stdout.close()
        child.stderr.close()


def _received(child: subprocess.Popen) -> Iterator[tuple[int, Event]]:
    fd = child.stdout.fileno()
    buffer = bytearray()
    loads, unpack, header = marshal.loads, _LENGTH.unpack_from, _LENGTH.size
    classes, names = HOT_TYPES, _NAMES
    while True:
        while len(buffer) < header:
            if not _fill(fd, buffer):
                _failed(child)
        size = unpack(buffer)[0]
        if size == 0:
            return
        end = header + size
        while len(buffer) < end:
            if not _fill(fd, buffer):
                _failed(child)
        with memoryview(buffer) as view:
            frame = loads(view[header:end])
        del buffer[:end]
        for position, code, values in frame:
            if code < 0:
                yield position, from_row_fields(*values)
            else:
                yield position, hot_event(classes[code], dict(zip(names[code], values)))


def _fill(fd: int, buffer: bytearray) -> bool:
    chunk = os.read(fd, 1 << 20)
    buffer += chunk
    return bool(chunk)


def _failed(child: subprocess.Popen) -> None:
    """The pipe ended before the end marker: say why, in one line."""
    from store.recorder import StoreError

    code = child.wait()
    said = child.stderr.read().decode(errors="replace").strip().splitlines()
    if code < 0:
        why = f"it was killed by signal {-code} ({signal.Signals(-code).name})"
    elif said:
        why = said[-1]
    else:
        why = f"it exited with status {code}"
    raise StoreError(f"the process reading the log ended early: {why}")


# --------------------------------------------------------------------------- the child


def _serve(spec: dict, out) -> None:
    uri = "file:" + quote(os.fsencode(spec["path"])) + "?mode=ro"  # any file name, even one not in UTF-8
    conn = sqlite3.connect(uri, uri=True, timeout=spec["timeout"], isolation_level=None)
    frame: list[tuple] = []
    held = 0
    for position, type_, schema_version, payload, event_id in conn.execute(spec["sql"], spec["params"]):
        try:
            hot = hot_row(type_, schema_version, payload, event_id)
        except Exception:  # noqa: BLE001 - the parent decodes the row and says what is wrong
            hot = None
        if hot is None:
            frame.append((position, -1, (type_, schema_version, payload, event_id)))
        else:
            code = _CODES[hot[0]]
            frame.append((position, code, _VALUES[code](hot[1])))
        held += len(payload)
        if len(frame) == FRAME_EVENTS or held >= FRAME_BYTES:
            _send(out, frame)
            frame, held = [], 0
    if frame:
        _send(out, frame)
    out.write(_END)
    out.flush()
    conn.close()


def _send(out, frame: list[tuple]) -> None:
    data = marshal.dumps(frame)
    out.write(_LENGTH.pack(len(data)))
    out.write(data)


def main(argv: list[str]) -> int:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when to stop
    out = sys.stdout.buffer
    try:
        _serve(json.loads(argv[0]), out)
    except BrokenPipeError:  # the parent stopped reading: nothing more to do
        sys.stdout = None  # no flush at exit into the closed pipe
        return 0
    except Exception as exc:  # noqa: BLE001 - reported to the parent in one line
        print(f"{type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
