"""Live follow: another process appends to the database while the app is open."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest
from textual.widgets import DataTable, Static

from rememberer_tui.app import make_app
from rememberer_tui.screens.runs import RunsScreen
from tests.conftest import ROOT
from tests.test_tui_app import cells, open_episode, open_run, row_keys
from tests.tui_fixtures import build_fixture_db, now, shown, wait_until, write_live_trace

pytestmark = pytest.mark.anyio
REMEMBERER = Path(sys.executable).parent / "rememberer"


async def run(*command: str) -> None:
    """Another process, awaited without blocking the app's event loop."""
    proc = await asyncio.create_subprocess_exec(*command, cwd=ROOT, stdout=asyncio.subprocess.PIPE,
                                                stderr=asyncio.subprocess.PIPE)
    out, err = await proc.communicate()
    assert proc.returncode == 0, err.decode()


async def test_an_episode_ingested_elsewhere_appears_on_open_screens(tmp_path: Path) -> None:
    db = build_fixture_db(tmp_path / "memory.db")
    trace = write_live_trace(tmp_path / "live.jsonl")
    async with make_app(db, clock=now, poll_interval=0.05).run_test(size=(120, 30)) as pilot:
        screen = await open_run(pilot, "webshop")
        table = screen.query_one("#episodes", DataTable)
        await run(str(REMEMBERER), "ingest", str(trace), "--db", str(db), "--run", "webshop")
        await wait_until(pilot, lambda: "webshop/ep-live" in row_keys(table))
        assert cells(table, "webshop/ep-live") == [
            "ep-live", "2", "test", "a live task: buy a red mug under 10 dollars", "2", "1", "yes"]
        # The runs screen below was refreshed too.
        await pilot.press("escape")
        runs = pilot.app.screen
        assert isinstance(runs, RunsScreen)
        await wait_until(pilot, lambda: cells(runs.query_one("#runs", DataTable), "webshop")[4] == "6")
        assert cells(runs.query_one("#runs", DataTable), "webshop")[5:7] == ["0.75", "67%"]


async def test_an_open_running_episode_follows_its_new_steps(tmp_path: Path) -> None:
    db = build_fixture_db(tmp_path / "memory.db")
    script = [sys.executable, "-m", "tests.tui_fixtures", str(db)]
    async with make_app(db, clock=now, poll_interval=0.05).run_test(size=(120, 40)) as pilot:
        screen = await open_episode(pilot, "session", "s-3")
        line = screen.query_one("#episode-line", Static)
        assert "1 steps so far · running" in shown(line, 200)
        await run(*script, "step")
        # The last step was shown, so the screen follows the tail to the new step.
        await wait_until(pilot, lambda: screen.query_one("#steps", DataTable).row_count == 2)
        assert screen.shown_step == 1
        assert "Action: click[Brew Tea]" in shown(screen.query_one("#step-summary", Static))
        await run(*script, "end")
        await wait_until(pilot, lambda: "failure" in shown(line, 200))
        assert "2 steps · return 0" in shown(line, 200)
