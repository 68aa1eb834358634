"""Fork server for tests/test_store_crash.py: forks writer and tail processes on command.

Started once per test, so the imports are paid once and each killed child costs a fork.
It never opens the database itself. Commands, one per line on stdin (answers on stdout):

  write DB ACKS LIFE  fork a child appending batches until killed; answer its pid
  tail DB PROGRESS    fork a child tailing the log from the start; answer its pid
  reap PID            wait for that child; answer its exit code (-9 when SIGKILL ended it)

Batch K of writer life L is `size` TransitionRecorded events, split over two streams in
one `append_batches` call; each event carries the batch (episode "L-K"), its index (step)
and the batch size (action "size N"), so a reader can tell a whole batch from a part.
After each commit the child appends "L K" to ACKS: a batch acknowledged there must be stored.
"""

from __future__ import annotations

import os
import random
import sys

from store.events import TransitionRecorded
from store.recorder import SQLiteRecorder, StreamBatch

PAGE = "[button] Back to Search [button_] Page 1 (Total results: 50) [button] Next > [button_] "


def batch_events(life: int, batch: int, size: int, rng: random.Random) -> list[TransitionRecorded]:
    return [
        TransitionRecorded(f"{life}-{batch}", index, PAGE * rng.randint(1, 12), f"size {size}", 0.0,
                           PAGE, event_id=f"{life}-{batch}-{index}")
        for index in range(size)
    ]


def write(db: str, acks: str, life_arg: str) -> None:
    life = int(life_arg)
    rng = random.Random(life)
    recorder = SQLiteRecorder(db)
    fd = os.open(acks, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
    batch = 0
    while True:
        size = rng.randint(1, 150)
        events = batch_events(life, batch, size, rng)
        cut = rng.randint(0, size)
        recorder.append_batches([StreamBatch(f"crash/life-{life % 3}", events[:cut]),
                                 StreamBatch("crash/shared", events[cut:])])
        os.write(fd, f"{life} {batch}\n".encode())
        batch += 1


def tail(db: str, progress: str) -> None:
    recorder = SQLiteRecorder(db)
    fd = os.open(progress, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
    for count, recorded in enumerate(recorder.tail(poll_interval=0.001, batch=500), 1):
        if count % 250 == 0:
            os.write(fd, f"{recorded.position}\n".encode())


def child(work, *args) -> None:
    code = 0
    try:
        work(*args)
    except BaseException:
        import traceback

        traceback.print_exc()
        code = 1
    finally:
        os._exit(code)


def main() -> None:
    for line in sys.stdin:
        command, *args = line.split()
        if command == "reap":
            _, status = os.waitpid(int(args[0]), 0)
            print(os.waitstatus_to_exitcode(status), flush=True)
            continue
        work = {"write": write, "tail": tail}[command]
        pid = os.fork()
        if pid == 0:
            child(work, *args)
        print(pid, flush=True)


if __name__ == "__main__":
    main()
