"""The diff screen equals `rememberer diff`: by default what the last epoch changed, then
other positions and a what-if config typed in; enter opens a change's provenance; export;
and how it looks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from textual.widgets import DataTable, Input, Static

from rememberer_tui.audit import episode_marks, epoch_ends
from rememberer_tui.cli import cli
from rememberer_tui.screens.diff import DiffScreen
from rememberer_tui.screens.provenance import ProvenanceScreen
from store.recorder import SQLiteRecorder
from tests.audit_fixtures import AGENT_RUN, agent_db, app_on, runs_on
from tests.tui_fixtures import shown, wait_until

pytestmark = pytest.mark.anyio


def cli_diff(*args: str) -> dict:
    result = CliRunner().invoke(cli, ["diff", "--db", str(agent_db()), "--run", AGENT_RUN, *args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


async def open_diff(pilot) -> DiffScreen:
    await runs_on(pilot, AGENT_RUN)
    await pilot.press("d")
    await wait_until(pilot, lambda: isinstance(pilot.app.screen, DiffScreen) and pilot.app.screen.loaded)
    return pilot.app.screen


def shown_changes(screen: DiffScreen) -> list[dict[str, str]]:
    table = screen.query_one("#changes", DataTable)
    keys = [key.value for key in table.columns]
    return [dict(zip(keys, (cell.plain for cell in table.get_row_at(row)))) for row in range(table.row_count)]


async def test_d_shows_what_the_last_epoch_changed_as_the_cli_does() -> None:
    with SQLiteRecorder(agent_db(), create=False) as recorder:
        ends = [end for _, end in epoch_ends(episode_marks(recorder, AGENT_RUN))]
    async with app_on(agent_db()).run_test(size=(120, 40)) as pilot:
        screen = await open_diff(pilot)
        comparison = screen.comparison
        assert (comparison.at, comparison.against) == (ends[-2], ends[-1])
        printed = cli_diff("--at", str(ends[-2]), "--against", str(ends[-1]))
        assert json.loads(json.dumps(comparison.result.to_dict())) == {
            key: value for key, value in printed.items() if key not in ("a", "b")}
        rows = shown_changes(screen)
        assert len(rows) == len(printed["actions"]) > 0
        for cells, change in zip(rows, printed["actions"]):  # the CLI's order: largest |delta| first
            assert cells["status"] == {"added": "+", "removed": "−", "changed": "~"}[change["status"]]
            assert change["action"].startswith(cells["action"].rstrip("…"))
            assert cells["delta"] == f"{change['delta']:+.4g}"
        line = shown(screen.query_one("#diff-line", Static), 200)
        assert f"actions +{comparison.result.count('added')} " in line
        # f: the changed actions only, still largest |delta| first; enter explains the top one.
        await pilot.press("f")
        changed = [change for change in printed["actions"] if change["status"] == "changed"]
        assert [cells["delta"] for cells in shown_changes(screen)] == [f"{c['delta']:+.4g}" for c in changed]
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(pilot.app.screen, ProvenanceScreen) and pilot.app.screen.loaded)
        found = pilot.app.screen.found
        assert (found.action, found.q, found.position) == (changed[0]["action"], changed[0]["q_b"], ends[-1])
        assert [row.entry.position for row in found.updates if row.entry.position > ends[-2]]  # updated then


async def test_a_what_if_typed_in_equals_the_cli_and_enter_opens_the_provenance() -> None:
    async with app_on(agent_db()).run_test(size=(120, 40)) as pilot:
        screen = await open_diff(pilot)
        at = screen.comparison.against
        await pilot.press("e")
        screen.query_one("#diff-at", Input).value = str(at)
        screen.query_one("#diff-gamma", Input).value = "0.5"
        screen.query_one("#diff-n", Input).value = "1"
        screen.query_one("#diff-n", Input).focus()
        await pilot.press("enter")
        await wait_until(pilot, lambda: screen.comparison.config.gamma == 0.5 and not
                         screen.query_one("#changes", DataTable).loading)
        printed = cli_diff("--at", str(at), "--against", str(at), "--gamma", "0.5", "--n-step", "1")
        assert printed["b"]["config"] == screen.comparison.config.to_dict()
        assert json.loads(json.dumps(screen.comparison.result.to_dict()))["actions"] == printed["actions"]
        assert screen.query_one("#changes", DataTable).has_focus
        top = screen.changes[0]
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(pilot.app.screen, ProvenanceScreen) and pilot.app.screen.loaded)
        found = pilot.app.screen.found
        assert (found.key, found.action, found.position) == ((top.task, top.observation), top.action, at)
        assert found.config.gamma == 0.5 and found.q == top.q_b and found.consistent


async def test_export_writes_every_change(tmp_path: Path) -> None:
    async with app_on(agent_db()).run_test(size=(120, 40)) as pilot:
        screen = await open_diff(pilot)
        comparison = screen.comparison
        await pilot.press("x")
        await wait_until(pilot, lambda: pilot.app.screen.query("#export-path"))
        box = pilot.app.screen.query_one("#export-path", Input)
        assert box.value == f"diff-agent-{comparison.at}-{comparison.against}.csv"
        box.value = str(tmp_path / "d.json")
        await pilot.press("enter")
        await wait_until(pilot, lambda: (tmp_path / "d.json").exists())
        await pilot.pause(0.1)
        printed = cli_diff("--at", str(comparison.at), "--against", str(comparison.against))
        assert json.loads((tmp_path / "d.json").read_text()) == printed["actions"]


# --------------------------------------------------------------------------- snapshots


@pytest.mark.parametrize("size", [(80, 24), (160, 48)], ids=["80x24", "160x48"])
def test_diff_screen_looks_as_approved(snap_compare, size: tuple[int, int]) -> None:
    assert snap_compare(app_on(agent_db()), terminal_size=size, run_before=open_diff)
