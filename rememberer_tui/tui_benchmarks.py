"""`rememberer bench tui`: open a large log in the terminal UI, headless, and time it.

Figures: the runs queries alone (the rows, then the episode figures), the first screen
shown (app start to the runs table drawn) and its episode figures filled in, a run's
episodes screen, opening an episode, moving between steps (key press to the step's panels
redrawn), and the longest replay the episode screen starts (Q-values as of a run's last
episode, in a worker, without snapshots). The log is synthetic agent sessions (per step
an ExperienceRetrieved, an LlmExchanged and a TransitionRecorded) of realistic sizes,
built once per size in a cache directory and reused.
"""

from __future__ import annotations

import asyncio
import random
import statistics
import tempfile
import time
from pathlib import Path

from rememberer_tui.data import memory_at, run_episodes, run_heads, runs_summary
from replay.benchmarks import median_seconds
from store.events import (
    EpisodeEnded,
    EpisodeStarted,
    ExperienceRetrieved,
    LlmExchanged,
    RunStarted,
    TransitionRecorded,
)
from store.recorder import SQLiteRecorder, StreamBatch

RUNS = 4
STEPS = 10  # per episode: 3 events a step, plus start and end
EVENTS_PER_EPISODE = 3 * STEPS + 2
WORDS = ("shirt", "blue", "cotton", "size", "large", "price", "under", "dollars", "mug", "red",
         "search", "results", "item", "buy", "now", "back", "next", "page", "review", "rating")


def _text(rng: random.Random, words: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(words))


def _episode(rng: random.Random, run: str, number: int) -> list:
    episode = f"ep-{number:06d}"
    task = f"i want a {_text(rng, 12)}"
    events: list = [EpisodeStarted(episode, task, task_id=str(number), split="train",
                                   epoch=number // 1000)]
    screens = [f"Instruction:\n{task}\n[Back to Search]\n" + "\n".join(
        f"[B0{rng.randrange(10**8):08d}]\n{_text(rng, 14)}\n${rng.randrange(5, 90)}.99" for _ in range(3))
        for _ in range(STEPS + 1)]
    total = 0.0
    for step in range(STEPS):
        actions = [f"click[{_text(rng, 2)}]" for _ in range(6)]
        records = [{"task": f"i want a {_text(rng, 12)}", "observation": screens[step][:200],
                    "score": rng.random(), "scores": {"task": rng.random(), "fuzzy": rng.random()}}
                   for _ in range(2)]
        events.append(ExperienceRetrieved(episode, step, task, screens[step], records=records,
                                          exemplars=_text(rng, 40)))
        events.append(LlmExchanged(episode, step, "bench-llm", messages=[
            {"role": "system", "content": _text(rng, 40)},
            {"role": "user", "content": _text(rng, 60) + screens[step]}],
            response=f"Encouraged:\n{actions[0]} -> 0.5", usage={"prompt_tokens": 400},
            latency_ms=300.0))
        reward = 1.0 if step == STEPS - 1 and rng.random() < 0.5 else 0.0
        total += reward
        events.append(TransitionRecorded(episode, step, screens[step], actions[0], reward,
                                         screens[step + 1], terminated=step == STEPS - 1,
                                         reason=_text(rng, 8), available_actions=actions))
    events.append(EpisodeEnded(episode, total, total >= 1.0, steps=STEPS))
    return events


def build_log(path: Path, events: int, seed: int = 0) -> Path:
    """A log of about `events` events over RUNS runs; built once, reused when present."""
    if path.exists():
        return path
    rng = random.Random(seed)
    partial = path.with_suffix(".partial")
    for stale in path.parent.glob(partial.name + "*"):
        stale.unlink()
    episodes_per_run = max(1, events // RUNS // EVENTS_PER_EPISODE)
    with SQLiteRecorder(partial, synchronous="OFF") as recorder:
        for r in range(RUNS):
            run = f"run-{r}"
            recorder.append([RunStarted(run, environment="webshop", policy="llm",
                                        models={"llm": "bench-llm"}, seed=r)], run, 0)
            for start in range(0, episodes_per_run, 100):
                recorder.append_batches([
                    StreamBatch(f"{run}/ep-{n:06d}", _episode(rng, run, n), 0)
                    for n in range(start, min(start + 100, episodes_per_run))])
        recorder.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    partial.rename(path)
    return path


async def _drive(db: Path, moves: int) -> dict:
    from rememberer_tui.app import make_app
    from rememberer_tui.screens.episode import EpisodeScreen
    from rememberer_tui.screens.episodes import EpisodesScreen
    from rememberer_tui.screens.runs import RunsScreen

    figures: dict = {}
    started = time.perf_counter()
    app = make_app(db, poll_interval=None)
    async with app.run_test(size=(120, 40)) as pilot:
        async def until(check) -> None:
            while not check():
                await asyncio.sleep(0.002)

        await until(lambda: isinstance(app.screen, RunsScreen) and app.screen.loaded)
        await pilot.pause()  # the rows drawn
        figures["first_screen_s"] = time.perf_counter() - started
        runs = app.screen
        await until(lambda: all(summary.stats for summary in runs.runs.values()))
        figures["runs_figures_s"] = time.perf_counter() - started
        begin = time.perf_counter()
        await pilot.press("enter")
        await until(lambda: isinstance(app.screen, EpisodesScreen) and app.screen.loaded)
        await pilot.pause()  # the rows drawn
        figures["episodes_screen_s"] = time.perf_counter() - begin
        figures["episodes_listed"] = app.screen.query_one("#episodes").row_count
        begin = time.perf_counter()
        await pilot.press("enter")
        await until(lambda: isinstance(app.screen, EpisodeScreen) and app.screen.loaded)
        figures["episode_screen_s"] = time.perf_counter() - begin
        screen = app.screen
        timings = []
        for i in range(moves):
            want = (i + 1) % STEPS
            begin = time.perf_counter()
            await pilot.press("n" if want else "home")  # returns once the screen is redrawn
            await until(lambda: screen.shown_step == want)
            timings.append(time.perf_counter() - begin)
        figures["step_move_median_ms"] = statistics.median(timings) * 1000
        figures["step_move_max_ms"] = max(timings) * 1000
    return figures


def bench_tui(quick: bool = False, **_: object) -> dict:
    """1,000,000 events (50,000 with --quick): the first screen, the next ones, step moves."""
    size = 50_000 if quick else 1_000_000
    cache = Path(tempfile.gettempdir()) / "rememberer-bench"
    cache.mkdir(exist_ok=True)
    db = cache / f"tui-{size}.db"
    begin = time.perf_counter()
    fresh = not db.exists()
    build_log(db, size)
    figures: dict = {"build_s": time.perf_counter() - begin if fresh else 0.0}
    with SQLiteRecorder(db, create=False) as recorder:
        figures["events"] = recorder.max_position()
        figures["runs_heads_s"] = median_seconds(lambda: run_heads(recorder))
        figures["runs_summary_s"] = median_seconds(lambda: runs_summary(recorder))
        last = run_episodes(recorder, "run-0")[-1]
        begin = time.perf_counter()
        memory_at(recorder, "run-0", [(last.first_position, [])])
        figures["replay_to_last_episode_s"] = time.perf_counter() - begin
    figures |= asyncio.run(_drive(db, moves=10 if quick else 30))
    figures["db_mb"] = db.stat().st_size / 1e6
    return figures
