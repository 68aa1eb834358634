"""The provenance screen: exactly the updates of the fold's trail, summing up to the Q
the memory shows; prunings and evictions with their reasons; the jump to the step;
export; and how it looks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from textual.widgets import DataTable, Input, Static

from rememberer_tui.audit import TrailCache, provenance, provenance_rows
from rememberer_tui.scrubber import table_rows
from rememberer_tui.screens.episode import EpisodeScreen
from rememberer_tui.screens.memory import MemoryScreen
from rememberer_tui.screens.provenance import ProvenanceScreen
from replay.fold import qtable_rows, trail_for
from replay.projection import replay_run
from replay.trail import Pruning, replay_trail
from store.recorder import SQLiteRecorder
from tests.audit_fixtures import (
    AGENT_RUN,
    SYNTHETIC_RUN,
    agent_db,
    app_on,
    open_memory,
    runs_on,
    settled,
    synthetic_db,
)
from tests.test_projection import own_replay
from tests.tui_fixtures import shown, wait_until

pytestmark = pytest.mark.anyio


async def open_provenance(pilot, key_of=lambda rows: max(rows, key=lambda r: (r.visits, r.key))):
    """From the memory screen at the run's end: the record `key_of` picks, enter, then
    enter on its best action."""
    screen = await open_memory(pilot)
    await settled(pilot, screen)
    record = key_of(screen.rows)
    screen.query_one("#records", DataTable).move_cursor(row=screen.rows.index(record))
    await pilot.press("enter")
    await wait_until(pilot, lambda: screen.query_one("#actions", DataTable).has_focus)
    await pilot.press("enter")
    await wait_until(pilot, lambda: isinstance(pilot.app.screen, ProvenanceScreen) and pilot.app.screen.loaded)
    return screen, record, pilot.app.screen


async def test_provenance_lists_the_trail_and_sums_to_the_shown_q() -> None:
    db = agent_db()
    async with app_on(db).run_test(size=(120, 40)) as pilot:
        memory, record, screen = await open_provenance(pilot)
        best = max(record.actions, key=lambda a: (a.q, -record.actions.index(a)))
        assert (screen.key, screen.action, screen.position) == (record.key, best.action, memory.memory.position)
        with SQLiteRecorder(db, create=False) as recorder:
            state = replay_run(recorder, AGENT_RUN, upto=screen.position, trail=True)
        entries = trail_for(state, record.key, best.action)
        assert [row.entry for row in screen.found.updates] == entries and len(entries) == best.visits
        assert replay_trail(entries, state.config) == best.q == screen.found.q
        table = screen.query_one("#updates", DataTable)
        assert table.row_count == len(entries)
        for index, entry in enumerate(entries):
            cells = [cell.plain for cell in table.get_row_at(index)]
            assert cells[0] == f"{entry.position:,}" and cells[1] == entry.episode
            assert cells[5] == f"{entry.old_q:.4g} → {entry.new_q:.4g}"
        line = shown(screen.query_one("#provenance-line", Static), 200)
        assert f"replay to {best.q:.6g} ✓" in line
        detail = shown(screen.query_one("#update-detail", Static), 200)
        assert f"update applied at position {entries[-1].position}" in detail  # the latest first
        assert screen.query_one("#facts", Static).content.plain.startswith("never pruned")


async def test_enter_on_an_update_opens_its_step_and_x_exports(tmp_path: Path) -> None:
    async with app_on(agent_db()).run_test(size=(120, 40)) as pilot:
        _, _, screen = await open_provenance(pilot)
        found = screen.found
        await pilot.press("x")
        await wait_until(pilot, lambda: pilot.app.screen.query("#export-path"))
        box = pilot.app.screen.query_one("#export-path", Input)
        assert box.value.startswith("provenance-agent-at-") and box.value.endswith(".csv")
        box.value = str(tmp_path / "p.json")
        await pilot.press("enter")
        await wait_until(pilot, lambda: (tmp_path / "p.json").exists())
        await pilot.pause(0.1)
        assert json.loads((tmp_path / "p.json").read_text()) == json.loads(json.dumps(provenance_rows(found)))
        first = found.updates[0]
        screen.query_one("#updates", DataTable).move_cursor(row=0)
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(pilot.app.screen, EpisodeScreen) and pilot.app.screen.loaded)
        episode = pilot.app.screen
        assert episode.stream == first.stream
        await wait_until(pilot, lambda: episode.current() is not None)
        step = episode.current()
        assert step.index == first.entry.step and step.transition == first.transition
        assert step.position <= first.entry.occurrence  # the step's events hold the transition
        # m: the memory as it was just before this step, ready to scrub from there.
        await pilot.press("m")
        await wait_until(pilot, lambda: isinstance(pilot.app.screen, MemoryScreen))
        memory = pilot.app.screen
        await settled(pilot, memory)
        assert memory.memory.position == step.moment
        with SQLiteRecorder(agent_db(), create=False) as recorder:
            assert table_rows(memory.memory.records) == qtable_rows(
                replay_run(recorder, AGENT_RUN, upto=step.moment))


async def test_prunings_and_evictions_are_shown_with_their_reasons() -> None:
    db = synthetic_db()
    with SQLiteRecorder(db, create=False) as recorder:
        state = own_replay(recorder, SYNTHETIC_RUN, trail=True, use_snapshots=False)
        pruned = [f for f in state.facts if isinstance(f, Pruning)
                  and (f.task, f.observation) in state.records]
        fact = pruned[-1]
        end = recorder.max_position()
        expected = provenance(recorder, SYNTHETIC_RUN, (fact.task, fact.observation), fact.action, end,
                              trails=TrailCache())
    async with app_on(db).run_test(size=(120, 40)) as pilot:
        await runs_on(pilot, SYNTHETIC_RUN)
        pilot.app.push_screen(ProvenanceScreen(pilot.app.settings, SYNTHETIC_RUN, (fact.task, fact.observation),
                                               fact.action, end))
        await wait_until(pilot, lambda: isinstance(pilot.app.screen, ProvenanceScreen) and pilot.app.screen.loaded)
        facts = shown(pilot.app.screen.query_one("#facts", Static), 400)
        assert fact.reason in facts and f"pruned at position {fact.position}" in facts
        assert len(facts.strip().splitlines()) >= len(expected.facts)
        assert fact in expected.facts


# --------------------------------------------------------------------------- snapshots


async def _provenance(pilot) -> None:
    _, _, screen = await open_provenance(pilot)
    await pilot.pause()


@pytest.mark.parametrize("size", [(80, 24), (160, 48)], ids=["80x24", "160x48"])
def test_provenance_screen_looks_as_approved(snap_compare, size: tuple[int, int]) -> None:
    assert snap_compare(app_on(agent_db()), terminal_size=size, run_before=_provenance)
