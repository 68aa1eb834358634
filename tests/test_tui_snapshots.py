"""Snapshots of the three screens at 80x24 and 160x48, clock and timestamps pinned.

Update after a deliberate change of the look with `pytest tests/test_tui_snapshots.py
--snapshot-update`, and look at the new SVGs before committing them.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from rememberer_tui.app import make_app
from tests.test_tui_app import memory_shown, open_episode, open_run, runs_ready
from tests.tui_fixtures import build_fixture_db, now


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_fixture_db(tmp_path_factory.mktemp("snap") / "memory.db")


async def runs(pilot) -> None:
    await runs_ready(pilot)


async def episodes(pilot) -> None:
    await open_run(pilot, "webshop")


async def episode(pilot) -> None:
    screen = await open_episode(pilot, "session", "s-2")
    await pilot.press("end")
    await memory_shown(pilot, screen)


@pytest.mark.parametrize("size", [(80, 24), (160, 48)], ids=["80x24", "160x48"])
@pytest.mark.parametrize("show", [runs, episodes, episode], ids=lambda f: f.__name__)
def test_screen_looks_as_approved(snap_compare, db: Path, show, size: tuple[int, int]) -> None:
    app = make_app(db, clock=now, poll_interval=None)
    assert snap_compare(app, terminal_size=size, run_before=show)
