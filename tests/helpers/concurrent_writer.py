"""One of the writer processes of tests/test_store_concurrency.py.

Usage: concurrent_writer.py DB WRITER COUNT. Says "ready" once imported and waits for a
line on stdin (so that all writers start together), then appends COUNT events in seeded batches of 1 to 64: to its
own stream with the exact expected version, to the shared stream with none, or to both
in one `append_batches` call. Event ids are "wWRITER-N", so the test can find each one.
"""

from __future__ import annotations

import random
import sys

from store.events import TransitionRecorded
from store.recorder import SQLiteRecorder, StreamBatch


def main(db: str, writer: int, count: int) -> None:
    rng = random.Random(writer)
    print("ready", flush=True)
    sys.stdin.readline()
    recorder = SQLiteRecorder(db)  # opened after the start line: concurrent first opens too
    own, own_version, n = f"w{writer}/own", 0, 0
    while n < count:
        size = min(count - n, rng.randint(1, 64))
        events = [TransitionRecorded(f"w{writer}", n + i, "o", "a", 0.0, "o", event_id=f"w{writer}-{n + i}")
                  for i in range(size)]
        kind = rng.choice(("own", "shared", "both"))
        cut = {"own": size, "shared": 0, "both": rng.randint(0, size)}[kind]
        batches = [StreamBatch(own, events[:cut], own_version), StreamBatch("shared", events[cut:], None)]
        recorder.append_batches([b for b in batches if b.events])
        own_version += cut
        n += size
    recorder.close()
    print(n)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]))
