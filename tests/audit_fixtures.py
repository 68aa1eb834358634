"""Databases the audit tests look at, built once per test process and only read.

`agent_db()`: run "agent" is a real `rememberer run` (offline policy, 2 epochs, n = 2), run
"webshop" is `fixtures/traces/webshop_small.jsonl` ingested with a pinned clock.
`synthetic_db()`: a seeded random walk under n = 2 with action and item capacities (so
prunings and evictions happen), with snapshots every 100 events. Tests that change a
database work on a copy (`copy_db`).
"""

from __future__ import annotations

import atexit
import functools
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path

from replay.benchmarks import synthetic_episodes, write_synthetic_run
from replay.projection import write_snapshots
from store.events import RLConfig
from store.recorder import SQLiteRecorder
from tests.conftest import fixed_clock
from tests.tui_fixtures import trace_batches

AGENT_RUN = "agent"
SYNTHETIC_RUN = "walk"
SYNTHETIC_CONFIG = RLConfig(gamma=0.9, n_step=2, action_capacity=2, item_capacity=25)


@functools.cache
def _workdir() -> Path:
    """One directory per test process, removed when it exits."""
    path = Path(tempfile.mkdtemp(prefix="rememberer-audit-"))
    atexit.register(shutil.rmtree, path, ignore_errors=True)
    return path


@functools.cache
def agent_db() -> Path:
    path = _workdir() / "agent.db"
    subprocess.run(
        [sys.executable, "-m", "rememberer_tui", "run", "--db", str(path), "--run", AGENT_RUN,
         "--llm", "offline", "--matcher", "fuzzy@task=0.5,webshop-page=0.5", "--epochs", "2",
         "--train-tasks", "0:4", "--test-tasks", "0:2", "--n-step", "2"],
        check=True, capture_output=True, timeout=120,
    )
    with SQLiteRecorder(path, clock=fixed_clock) as recorder:
        recorder.append_batches(trace_batches())
    return path


@functools.cache
def synthetic_db() -> Path:
    path = _workdir() / "synthetic.db"
    with SQLiteRecorder(path, clock=fixed_clock) as recorder:
        write_synthetic_run(recorder, SYNTHETIC_RUN, synthetic_episodes(3, 400, 60, actions=4),
                            config=SYNTHETIC_CONFIG)
        write_snapshots(recorder, SYNTHETIC_RUN, every=100)
    return path


def copy_db(source: Path, target: Path) -> Path:
    """A consistent copy (the SQLite backup API: committed WAL content included)."""
    with sqlite3.connect(source) as src, sqlite3.connect(target) as dst:
        src.backup(dst)
    src.close()
    dst.close()
    return target


# --------------------------------------------------------------------------- Pilot helpers


def app_on(db: Path, **options):
    from rememberer_tui.app import make_app
    from tests.tui_fixtures import now

    return make_app(db, **({"clock": now, "poll_interval": None} | options))


async def runs_on(pilot, run: str):
    """The runs screen with `run` selected (and the hash chain checked)."""
    from textual.widgets import DataTable

    from rememberer_tui.screens.runs import RunsScreen
    from tests.tui_fixtures import wait_until

    app = pilot.app
    await wait_until(pilot, lambda: isinstance(app.screen, RunsScreen) and app.screen.loaded
                     and app.integrity is not None)
    table = app.screen.query_one("#runs", DataTable)
    table.move_cursor(row=table.get_row_index(run))
    return app.screen


async def open_memory(pilot, run: str = AGENT_RUN):
    """The memory screen of `run`, opened from the runs screen (`m`), at the run's end."""
    from rememberer_tui.screens.memory import MemoryScreen
    from tests.tui_fixtures import wait_until

    await runs_on(pilot, run)
    await pilot.press("m")
    await wait_until(pilot, lambda: isinstance(pilot.app.screen, MemoryScreen)
                     and pilot.app.screen.memory is not None)
    return pilot.app.screen


async def settled(pilot, screen) -> None:
    """Wait until the memory screen shows the position last asked for."""
    from tests.tui_fixtures import wait_until

    await wait_until(pilot, lambda: screen.memory is not None and screen.memory.position == screen.target)
    await pilot.pause()
