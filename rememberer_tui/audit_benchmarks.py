"""`rememberer bench scrub`: how fast the memory screen moves through a long run.

A seeded synthetic run of about 1,000,000 events (50,000 with --quick) over 10,000 states,
5 actions each, with snapshots every 100,000 events (5,000), is built once in a cache
directory and reused. Figures: opening the memory at the run's end; the background
extension of the journal one snapshot stretch back; the latency of each kind of move of
the scrubber (one event, one episode, a jump of a tenth of the run within the journal,
then jumps before its base, which restart from a snapshot), each including the screen's
ordering of the records; and in the app, opening the memory screen and one-event moves,
action to screen redrawn. The target is under 100 ms per move.
"""

from __future__ import annotations

import asyncio
import random
import resource
import statistics
import tempfile
import time
from bisect import bisect_right
from pathlib import Path

from rememberer_tui.audit import episode_marks, run_positions
from rememberer_tui.scrubber import Scrubber
from rememberer_tui.screens.memory import RecordOrder
from replay.benchmarks import synthetic_episodes, write_synthetic_run
from replay.fold import FOLD_VERSION
from replay.projection import write_snapshots
from store.recorder import SQLiteRecorder

RUN = "scrub"


def build_run(path: Path, events: int, every: int) -> Path:
    """The run, about `events` events, with snapshots every `every`; built once."""
    if path.exists():
        return path
    partial = path.with_suffix(".partial")
    for stale in path.parent.glob(partial.name + "*"):
        stale.unlink()
    with SQLiteRecorder(partial, synchronous="OFF") as recorder:
        # Episodes of 10 +- 2 steps: 12 events each, 10 of them transitions.
        write_synthetic_run(recorder, RUN, synthetic_episodes(11, events * 10 // 12, 10_000))
        write_snapshots(recorder, RUN, every=every)
        recorder.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    partial.rename(path)
    return path


def _ms(timings: list[float]) -> dict:
    ordered = sorted(timings)
    return {"median_ms": round(statistics.median(ordered) * 1000, 2),
            "p95_ms": round(ordered[int(0.95 * (len(ordered) - 1))] * 1000, 2),
            "max_ms": round(ordered[-1] * 1000, 2), "moves": len(ordered)}


def _moves(scrubber: Scrubber, order: RecordOrder, recorder: SQLiteRecorder, targets: list[int]) -> list[float]:
    """Time each move to the next target, the screen's ordering of the records included."""
    timings = []
    for target in targets:
        begin = time.perf_counter()
        order.update(scrubber.move(recorder, target))
        timings.append(time.perf_counter() - begin)
    return timings


async def _ui_steps(db: Path, steps: int) -> dict:
    """In the app: open the memory screen (while the hash chain is verified in the
    background, as when a person opens it), then step back event by event, timing each
    from the `[` action to the screen redrawn (Pilot's own key simulation, which waits
    tens of milliseconds on its own, is left out)."""
    from rememberer_tui.app import make_app
    from rememberer_tui.screens.memory import MemoryScreen
    from rememberer_tui.screens.runs import RunsScreen

    app = make_app(db, poll_interval=None)
    async with app.run_test(size=(120, 40)) as pilot:
        async def until(check) -> None:
            while not check():
                await asyncio.sleep(0.001)

        started = time.perf_counter()
        await until(lambda: isinstance(app.screen, RunsScreen) and app.screen.loaded)
        begin = time.perf_counter()
        await pilot.press("m")
        await until(lambda: isinstance(app.screen, MemoryScreen) and app.screen.memory is not None)
        opened = time.perf_counter() - begin
        screen = app.screen
        await until(lambda: app.integrity is not None)
        verified = time.perf_counter() - started
        await until(lambda: not screen.scrubber.can_extend)  # the background extension is done
        loop = asyncio.get_running_loop()
        timings = []
        for _ in range(steps):
            want = screen.positions[bisect_right(screen.positions, screen.target) - 2]
            begin = time.perf_counter()
            screen.action_step(-1)
            await until(lambda: screen.memory.position == want)
            drawn = loop.create_future()
            screen.call_after_refresh(lambda: drawn.set_result(time.perf_counter()))
            timings.append(await drawn - begin)
    return {"ui_open_memory_s": round(opened, 2), "ui_verify_s": round(verified, 1),
            "ui_step_back_to_redraw": _ms(timings)}


def bench_scrub(quick: bool = False, **_: object) -> dict:
    """Scrubbing latency on a long run with snapshots (see the module docstring)."""
    events, every = (50_000, 5_000) if quick else (1_000_000, 100_000)
    cache = Path(tempfile.gettempdir()) / "rememberer-bench"
    cache.mkdir(exist_ok=True)
    db = cache / f"scrub-{events}-fold{FOLD_VERSION}.db"  # older snapshots would not be used
    begin = time.perf_counter()
    fresh = not db.exists()
    build_run(db, events, every)
    figures: dict = {"build_s": round(time.perf_counter() - begin, 1) if fresh else 0.0}
    rng = random.Random(5)
    with SQLiteRecorder(db, create=False) as recorder:
        positions = run_positions(recorder, RUN)
        ends = sorted(mark.last for mark in episode_marks(recorder, RUN))
        figures |= {"events": len(positions), "snapshot_every": every, "episodes": len(ends)}
        scrubber, order = Scrubber(RUN), RecordOrder()
        last = positions[-1]
        begin = time.perf_counter()
        memory = scrubber.move(recorder, last)
        order.update(memory)
        figures["open_at_end_s"] = round(time.perf_counter() - begin, 3)
        figures["records"] = len(memory.records)
        begin = time.perf_counter()
        scrubber.extend_back(recorder)
        figures["extend_back_s"] = round(time.perf_counter() - begin, 2)
        figures["journal_reaches_back_events"] = last - scrubber.base
        index = len(positions) - 1
        back = [positions[index - k] for k in range(1, 201)]
        figures["step_back"] = _ms(_moves(scrubber, order, recorder, back))
        figures["step_forward"] = _ms(_moves(scrubber, order, recorder, list(reversed(back[:-1])) + [last]))
        at = bisect_right(ends, last) - 1
        episodes_back = [ends[at - k] for k in range(1, 51)]
        figures["episode_back"] = _ms(_moves(scrubber, order, recorder, episodes_back))
        figures["episode_forward"] = _ms(_moves(scrubber, order, recorder, list(reversed(episodes_back[:-1]))))
        inside = [rng.randrange(scrubber.base, last) for _ in range(30)]
        figures["jump_within_journal"] = _ms(_moves(scrubber, order, recorder, inside))
        far = [rng.randrange(1, max(2, scrubber.base)) for _ in range(5)]
        figures["jump_before_journal"] = _ms(_moves(scrubber, order, recorder, far))
        figures["journal_changes"] = scrubber.journal_size
    figures |= asyncio.run(_ui_steps(db, 20 if quick else 50))
    figures["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    figures["db_mb"] = round(db.stat().st_size / 1e6)
    return figures
