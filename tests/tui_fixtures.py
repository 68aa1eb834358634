"""The database the TUI tests look at: a real ingested trace plus a synthetic agent session.

Run "webshop" is `fixtures/traces/webshop_small.jsonl` ingested as `rememberer ingest`
does. Run "session" is built here the way an agent session records itself: per step an
ExperienceRetrieved, LlmExchanged exchanges and a TransitionRecorded, on WikiHow-like
HTML screens; its second episode revisits the first one's states, so the Q-values
"as they were at that moment" differ from step to step; its third episode never ends.
Every event carries the same pinned `recorded_at`.
"""

from __future__ import annotations

import asyncio
import io
import json
from datetime import datetime, timedelta
from pathlib import Path

from rich.console import Console

from store.events import (
    EpisodeEnded,
    EpisodeStarted,
    ExperienceRetrieved,
    LlmExchanged,
    RLConfig,
    RunStarted,
    TransitionRecorded,
)
from store.recorder import SQLiteRecorder, StreamBatch
from store.trace import parse_trace
from tests.conftest import FIXED_TIME, FIXTURES, fixed_clock

TRACE = FIXTURES / "traces" / "webshop_small.jsonl"
TASK = "How to make green tea"
SCREENS = [
    '<div class="search">\n<input type="text" placeholder="Search wikiHow">\n<button>Search</button>\n</div>',
    '<div class="results">\n<a href="/Make-Green-Tea">Make Green Tea</a>\n'
    '<a href="/Brew-Tea">Brew Tea</a>\n<button>Next</button>\n</div>',
    '<div class="article">\n<h1>Make Green Tea</h1>\n<p>Step 1: Boil water.</p>\n'
    '<button>Next step</button>\n</div>',
    '<div class="done">\n<p>Finished.</p>\n</div>',
]
ACTIONS = ["search[make green tea]", "click[Make Green Tea]", "click[Next step]"]
AVAILABLE = [["search[...]"], ["click[Make Green Tea]", "click[Brew Tea]", "click[Next]"],
             ["click[Next step]", "click[Back]"]]
REWARDS = [0.0, 0.0, 1.0]


def now() -> datetime:
    """The app's clock in tests: five minutes after every event was recorded."""
    return datetime.fromisoformat(FIXED_TIME) + timedelta(minutes=5)


def _exchange(episode: str, step: int, *, error: str = "", attempt: int = 1) -> LlmExchanged:
    prompt = (f"Task: {TASK}\nObservation:\n{SCREENS[step]}\n"
              f"Available actions: {', '.join(AVAILABLE[step])}")
    response = "" if error else (f"Encouraged:\n{ACTIONS[step]} -> 1.0 The next step of the task.\n"
                                 "Discouraged:\nclick[Back] -> 0.0 Goes nowhere.")
    return LlmExchanged(
        episode, step, "gpt-test",
        messages=[{"role": "system", "content": "You are a WikiHow agent."},
         {"role": "user", "content": prompt}],
        response=response, usage={"prompt_tokens": 120 + step, "completion_tokens": 30},
        latency_ms=250.0 + step, error=error, attempt=attempt,
    )


def _retrieved(episode: str, step: int, revisit: bool) -> ExperienceRetrieved:
    # On a revisit, the memory holds the first episode's states: the same screen scores
    # best, the one before it (at step 0, the last) second.
    records = []
    if revisit:
        records.append({"task": TASK, "observation": SCREENS[step], "score": 0.95,
                        "scores": {"task": 1.0, "lcs": 0.9}})
        other = SCREENS[(step + 2) % 3]
        records.append({"task": TASK, "observation": other, "score": 0.6,
                        "scores": {"task": 1.0, "lcs": 0.2}})
    exemplars = "" if not revisit else (
        f"Task: {TASK}\nObservation:\n{SCREENS[step]}\nEncouraged:\n{ACTIONS[step]} -> 0.5\n"
        "Discouraged:\nclick[Back] -> 0.0")
    return ExperienceRetrieved(episode, step, TASK, SCREENS[step], records=records, exemplars=exemplars)


def _session_episode(episode: str, *, revisit: bool, split: str, epoch: int,
                     steps: int = 3, ended: bool = True) -> list:
    events: list = [EpisodeStarted(episode, TASK, task_id="tea", split=split, epoch=epoch)]
    total = 0.0
    for step in range(steps):
        events.append(_retrieved(episode, step, revisit))
        if step == 0 and not revisit:
            events.append(_exchange(episode, step, error="rate limited (429)"))
            events.append(_exchange(episode, step, attempt=2))
        else:
            events.append(_exchange(episode, step))
        last = step == len(ACTIONS) - 1
        events.append(TransitionRecorded(
            episode, step, SCREENS[step], ACTIONS[step], REWARDS[step], SCREENS[step + 1],
            terminated=last, reason=f"Step {step} of the recipe.", available_actions=AVAILABLE[step]))
        total += REWARDS[step]
    if ended:
        events.append(EpisodeEnded(episode, total, total >= 1.0, steps=steps))
    return events


def session_batches(run: str = "session") -> list[StreamBatch]:
    started = RunStarted(run, rl=RLConfig(gamma=0.9), matcher={"task": 0.5, "lcs": 0.5},
                         models={"llm": "gpt-test"}, environment="wikihow", policy="llm", seed=7)
    return [
        StreamBatch(run, [started], 0),
        StreamBatch(f"{run}/s-1", _session_episode("s-1", revisit=False, split="train", epoch=0), 0),
        StreamBatch(f"{run}/s-2", _session_episode("s-2", revisit=True, split="train", epoch=1), 0),
        StreamBatch(f"{run}/s-3", _session_episode("s-3", revisit=True, split="test", epoch=1,
                                                   steps=1, ended=False), 0),
    ]


def trace_batches(run: str = "webshop", trace: Path = TRACE) -> list[StreamBatch]:
    started = RunStarted(run, environment="trace", policy="recorded trace",
                         options={"source": trace.name})
    batches = [StreamBatch(run, [started], 0)]
    batches += [StreamBatch(f"{run}/{ep.episode}", ep.events, 0) for ep in parse_trace(trace, run)]
    return batches


def build_fixture_db(path: Path) -> Path:
    with SQLiteRecorder(path, clock=fixed_clock) as recorder:
        recorder.append_batches(trace_batches())
        recorder.append_batches(session_batches())
    return path


def write_live_trace(path: Path, episode: str = "ep-live") -> Path:
    """A one-episode trace another process ingests while the app watches."""
    task = "a live task: buy a red mug under 10 dollars"
    lines = [
        {"episode": episode, "task": task, "observation": "WebShop\n[Search]",
         "action": "search[red mug]", "reward": 0.0, "next_observation": "results", "done": False,
         "split": "test", "epoch": 2},
        {"episode": episode, "task": task, "observation": "results", "action": "click[buy now]",
         "reward": 1.0, "next_observation": "Thank you", "done": True},
    ]
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path


async def wait_until(pilot, predicate, timeout: float = 10.0) -> None:
    """Let the app run until `predicate()` holds: workers answer in their own time."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {predicate.__doc__ or predicate}")
        await pilot.pause(0.01)


def shown(widget, width: int = 100) -> str:
    """The text a Static shows (its content rendered as plain text)."""
    console = Console(width=width, record=True, color_system=None, file=io.StringIO())
    console.print(widget.content)
    return console.export_text()


def append_to_running_episode(path: str, what: str) -> None:
    """What another process appends to the open episode session/s-3 (run as a script):
    `step` adds its step 1, `end` then ends it (truncated, no success)."""
    with SQLiteRecorder(path, clock=fixed_clock) as recorder:
        stream = "session/s-3"
        version = recorder.stream_version(stream)
        if what == "step":
            recorder.append([
                _retrieved("s-3", 1, revisit=True), _exchange("s-3", 1),
                TransitionRecorded("s-3", 1, SCREENS[1], "click[Brew Tea]", 0.0, SCREENS[3],
                                   truncated=True, available_actions=AVAILABLE[1]),
            ], stream, version)
        else:
            recorder.append([EpisodeEnded("s-3", 0.0, False, steps=2)], stream, version)


if __name__ == "__main__":
    import sys

    append_to_running_episode(sys.argv[1], sys.argv[2])


OFFLINE_RUN = ["run", "--env", "webshop-mini", "--run", "offline", "--llm", "offline",
               "--epochs", "2", "--train-tasks", "0:2", "--test-tasks", "0:1", "--max-steps", "6",
               "--matcher", "fuzzy=0.5,webshop-page=0.5"]


def add_offline_run(path: Path) -> Path:
    """A short `rememberer run --llm offline` (a seeded heuristic, no model) into `path`."""
    from click.testing import CliRunner

    from rememberer_tui.cli import cli

    result = CliRunner().invoke(cli, [*OFFLINE_RUN, "--db", str(path)])
    assert result.exit_code == 0, result.output
    return path
