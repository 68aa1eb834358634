"""The integrity line: green when the hash chain verifies, red with the first bad
position when a row was altered behind the triggers' back."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from rememberer_tui.screens.runs import RunsScreen
from rememberer_tui.widgets.integrity import IntegrityLine
from store.recorder import SQLiteRecorder
from store.verify import verify
from tests.audit_fixtures import agent_db, app_on, copy_db, open_memory
from tests.tui_fixtures import shown, wait_until

pytestmark = pytest.mark.anyio


def tamper(path: Path, position: int) -> None:
    """What someone with plain sqlite3 could do: drop the triggers, change a reward."""
    conn = sqlite3.connect(path, isolation_level=None)
    for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'").fetchall():
        conn.execute(f"DROP TRIGGER {name}")
    before = conn.execute("SELECT payload FROM events WHERE position = ?", (position,)).fetchone()[0]
    conn.execute("UPDATE events SET payload = ? WHERE position = ?",
                 (before.replace('"reward":0.0', '"reward":1.0'), position))
    assert conn.execute("SELECT payload FROM events WHERE position = ?", (position,)).fetchone()[0] != before
    conn.close()


def line_of(pilot) -> IntegrityLine:
    return pilot.app.screen.query_one(IntegrityLine)


async def test_an_intact_log_is_reported_green() -> None:
    with SQLiteRecorder(agent_db(), create=False) as recorder:
        events = recorder.max_position()
    async with app_on(agent_db()).run_test(size=(100, 30)) as pilot:
        await wait_until(pilot, lambda: isinstance(pilot.app.screen, RunsScreen) and pilot.app.integrity)
        line = line_of(pilot)
        await wait_until(pilot, lambda: line.has_class("-ok"))
        assert not line.has_class("-bad")
        assert shown(line).startswith(f"✓ hash chain verified: {events:,} events")


async def test_a_tampered_log_turns_the_line_red_at_the_first_bad_position(tmp_path: Path) -> None:
    db = copy_db(agent_db(), tmp_path / "tampered.db")
    with SQLiteRecorder(db, create=False) as recorder:
        transition = next(r.position for r in recorder.read(0) if type(r.event).__name__ == "TransitionRecorded"
                          and r.event.reward == 0.0 and r.position > 20)
    tamper(db, transition)
    with SQLiteRecorder(db, create=False) as recorder:
        assert verify(recorder).bad_position == transition
    async with app_on(db).run_test(size=(100, 30)) as pilot:
        await wait_until(pilot, lambda: pilot.app.integrity is not None)
        line = line_of(pilot)
        assert line.has_class("-bad") and not line.has_class("-ok")
        assert f"✗ hash chain broken at position {transition}" in shown(line, 200)
        screen = await open_memory(pilot)  # every screen opened later says so too
        assert screen.query_one(IntegrityLine).has_class("-bad")
        assert f"position {transition}" in shown(screen.query_one(IntegrityLine), 200)
