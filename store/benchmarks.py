"""`rememberer bench append` and `rememberer bench read`: the recorder beside plain sqlite3.

Both write ~1 KB TransitionRecorded events (WebShop-like observation text, seeded) into a
temporary directory. Each figure is the median over several repetitions, and the
recorder and its baseline alternate inside every repetition so both see the same load.

The baseline ("plain") is what a hand-written log would do with the same data: the same
rows into a table with the same columns and indexes, payloads from `json.dumps`, no
mapper, no validation, no redaction, no hash chain, no version check. `plain_minimal` is
a table of (position, stream, type, payload) without secondary indexes: the floor.
"""

from __future__ import annotations

import json
import os
import random
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from store.events import TransitionRecorded
from store.mapper import to_row_fields
from store.recorder import SQLiteRecorder

BATCH = 1000
FIXED_TIME = "2026-01-01T00:00:00.000000+00:00"
WORDS = ("organic", "cotton", "running", "shoes", "men's", "women's", "waterproof", "hiking",
         "boots", "lightweight", "breathable", "mesh", "leather", "wallet", "slim", "bifold",
         "stainless", "steel", "water", "bottle", "insulated", "vacuum", "travel", "mug")

PLAIN_SCHEMA = (
    "CREATE TABLE events (position INTEGER PRIMARY KEY, stream TEXT NOT NULL, run TEXT NOT NULL,"
    " version INTEGER NOT NULL, event_id TEXT NOT NULL, type TEXT NOT NULL,"
    " schema_version INTEGER NOT NULL, payload TEXT NOT NULL, recorded_at TEXT NOT NULL,"
    " hash TEXT NOT NULL) STRICT",
    "CREATE UNIQUE INDEX events_event_id ON events (event_id)",
    "CREATE UNIQUE INDEX events_stream_version ON events (stream, version)",
    "CREATE INDEX events_run_position ON events (run, position)",
)
MINIMAL_SCHEMA = ("CREATE TABLE events (position INTEGER PRIMARY KEY, stream TEXT, type TEXT, payload TEXT)",)


def _observation(rng: random.Random) -> str:
    items = "\n".join(
        f"[button] B0{rng.randrange(10**8):08d} [button_]\n"
        f"{' '.join(rng.choice(WORDS) for _ in range(rng.randint(6, 10)))}\n${rng.randint(5, 99)}.{rng.randint(0, 99):02d}"
        for _ in range(3)
    )
    return (f"Instruction: [SEP] i need {rng.choice(WORDS)} {rng.choice(WORDS)} under 50 dollars [SEP] "
            f"[button] Back to Search [button_] Page {rng.randint(1, 5)} (Total results: 50) "
            f"[button] Next > [button_]\n{items}")


def transitions(count: int, seed: int = 0) -> list[TransitionRecorded]:
    """`count` steps of one episode, each ~1 KB of canonical JSON."""
    rng = random.Random(seed)
    observation = _observation(rng)
    events = []
    for step in range(count):
        following = _observation(rng)
        events.append(TransitionRecorded(
            "ep-1", step, observation, f"click[b0{rng.randrange(10**8):08d}]", 0.0, following,
            reason="the item matches the colour and the price is under the budget",
            available_actions=("back to search", "next >", "click[item]"),
            event_id=f"{rng.getrandbits(128):032x}",  # random like uuid4, but seeded
        ))
        observation = following
    return events


def _plain_connection(path: Path, schema: tuple[str, ...], synchronous: str = "NORMAL") -> sqlite3.Connection:
    conn = sqlite3.connect(str(path), isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute(f"PRAGMA synchronous = {synchronous}")
    for statement in schema:
        conn.execute(statement)
    return conn


def _plain_rows(events: list[TransitionRecorded], payloads: list[dict], start: int) -> list[tuple]:
    return [
        (start + i, "bench/ep-1", "bench", start + i, event.event_id, event.TYPE, event.SCHEMA_VERSION,
         json.dumps(payload), FIXED_TIME, "0" * 64)
        for i, (event, payload) in enumerate(zip(events, payloads), 1)
    ]


def _median_rate(samples: list[float]) -> float:
    return round(statistics.median(samples), 1)


def _percentile_ms(latencies: list[float], fraction: float) -> float:
    ordered = sorted(latencies)
    return round(ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] * 1000, 3)


def _timed(work: Callable[[], object]) -> float:
    start = time.perf_counter()
    work()
    return time.perf_counter() - start


def bench_append(quick: bool = False, **_: object) -> dict:
    """Batched appends (1,000 per transaction) and one-event durable steps."""
    count, repetitions, steps = (5_000, 3, 100) if quick else (20_000, 5, 400)
    events = transitions(count)
    # The baseline starts from plain dicts, as the recorder starts from built events.
    payloads = [json.loads(to_row_fields(e)[2]) for e in events]
    recorder_rates, plain_rates, minimal_rates = [], [], []
    with tempfile.TemporaryDirectory(prefix="rememberer-bench-") as tmp:
        for rep in range(repetitions):
            with SQLiteRecorder(Path(tmp, f"recorder-{rep}.db"), clock=lambda: FIXED_TIME) as recorder:
                def recorder_batches() -> None:
                    for start in range(0, count, BATCH):
                        recorder.append(events[start:start + BATCH], "bench/ep-1", start)
                recorder_rates.append(count / _timed(recorder_batches))
            plain = _plain_connection(Path(tmp, f"plain-{rep}.db"), PLAIN_SCHEMA)

            def plain_batches() -> None:
                for start in range(0, count, BATCH):
                    plain.execute("BEGIN IMMEDIATE")
                    plain.executemany("INSERT INTO events VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                                      _plain_rows(events[start:start + BATCH], payloads[start:start + BATCH], start))
                    plain.execute("COMMIT")
            plain_rates.append(count / _timed(plain_batches))
            plain.close()
            minimal = _plain_connection(Path(tmp, f"minimal-{rep}.db"), MINIMAL_SCHEMA)

            def minimal_batches() -> None:
                for start in range(0, count, BATCH):
                    minimal.execute("BEGIN IMMEDIATE")
                    minimal.executemany("INSERT INTO events (stream, type, payload) VALUES (?, ?, ?)",
                                        [("bench/ep-1", "TransitionRecorded", json.dumps(p))
                                         for p in payloads[start:start + BATCH]])
                    minimal.execute("COMMIT")
            minimal_rates.append(count / _timed(minimal_batches))
            minimal.close()
        figures = {
            "events": count,
            "repetitions": repetitions,
            "load_average_1min": round(os.getloadavg()[0], 2),  # other work on the machine
            "payload_bytes_mean": round(statistics.fmean(len(to_row_fields(e)[2]) for e in events)),
            "batched_recorder_events_per_s": _median_rate(recorder_rates),
            "batched_plain_events_per_s": _median_rate(plain_rates),
            "batched_plain_minimal_events_per_s": _median_rate(minimal_rates),
            "batched_ratio_to_plain": round(statistics.median(recorder_rates) / statistics.median(plain_rates), 3),
            "batched_ratio_to_plain_minimal": round(
                statistics.median(recorder_rates) / statistics.median(minimal_rates), 3),
            "batched_target": ">= 0.6x plain and >= 30000 events/s",
        }
        figures.update(_durable_steps(Path(tmp), steps))
    return figures


def _durable_steps(tmp: Path, steps: int) -> dict:
    """One transaction per agent step: latency of appending a single event."""
    events = transitions(steps + 20, seed=1)
    payloads = [json.loads(to_row_fields(e)[2]) for e in events]
    figures: dict = {"step_appends": steps}
    for synchronous in ("NORMAL", "FULL"):
        recorder_latencies, plain_latencies = [], []
        recorder = SQLiteRecorder(tmp / f"steps-{synchronous}.db", synchronous=synchronous,
                                  clock=lambda: FIXED_TIME)
        plain = _plain_connection(tmp / f"steps-plain-{synchronous}.db", PLAIN_SCHEMA, synchronous)
        for i, event in enumerate(events):
            elapsed = _timed(lambda: recorder.append([event], "bench/ep-1", i))
            row = _plain_rows([event], [payloads[i]], i)[0]

            def plain_step() -> None:
                plain.execute("BEGIN IMMEDIATE")
                plain.execute("INSERT INTO events VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", row)
                plain.execute("COMMIT")
            plain_elapsed = _timed(plain_step)
            if i >= 20:  # the first steps warm the page cache and the WAL
                recorder_latencies.append(elapsed)
                plain_latencies.append(plain_elapsed)
        recorder.close()
        plain.close()
        key = synchronous.lower()
        figures[f"step_{key}_recorder_p50_ms"] = _percentile_ms(recorder_latencies, 0.5)
        figures[f"step_{key}_recorder_p90_ms"] = _percentile_ms(recorder_latencies, 0.9)
        figures[f"step_{key}_plain_p50_ms"] = _percentile_ms(plain_latencies, 0.5)
        figures[f"step_{key}_plain_p90_ms"] = _percentile_ms(plain_latencies, 0.9)
    figures["step_target"] = "p50 <= 1 ms"
    return figures


def bench_read(quick: bool = False, **_: object) -> dict:
    """Sequential read of the whole log: `recorder.read()` building events vs sqlite3 + json.loads."""
    count, repetitions = (5_000, 3) if quick else (20_000, 5)
    recorder_rates, plain_rates = [], []
    with tempfile.TemporaryDirectory(prefix="rememberer-bench-") as tmp:
        path = Path(tmp, "read.db")
        with SQLiteRecorder(path, clock=lambda: FIXED_TIME) as recorder:
            events = transitions(count)
            for start in range(0, count, BATCH):
                recorder.append(events[start:start + BATCH], "bench/ep-1", start)
            del events
            plain = sqlite3.connect(str(path))
            loads = json.loads

            def plain_read() -> int:
                n = 0
                for row in plain.execute(
                    "SELECT position, stream, version, type, schema_version, event_id, payload, recorded_at, hash"
                    " FROM events ORDER BY position"
                ):
                    loads(row[6])
                    n += 1
                return n

            def recorder_read() -> int:
                n = 0
                for _recorded in recorder.read():
                    n += 1
                return n

            if not plain_read() == recorder_read() == count:  # also warms the page cache for both
                raise RuntimeError("the benchmark log does not hold the events written")
            for _ in range(repetitions):
                recorder_rates.append(count / _timed(recorder_read))
                plain_rates.append(count / _timed(plain_read))
            plain.close()
    return {
        "events": count,
        "repetitions": repetitions,
        "load_average_1min": round(os.getloadavg()[0], 2),
        "read_recorder_rows_per_s": _median_rate(recorder_rates),
        "read_plain_rows_per_s": _median_rate(plain_rates),
        "read_ratio_to_plain": round(statistics.median(recorder_rates) / statistics.median(plain_rates), 3),
        "read_target": ">= 0.7x plain sqlite3 + json.loads",
    }
