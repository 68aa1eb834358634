"""The plots screen draws the run's per-epoch figures and its memory along the log, as
`plot_series` computes them from one fold; and how it looks."""

from __future__ import annotations

import pytest
from textual.widgets import Static
from textual_plotext import PlotextPlot

from rememberer_tui.audit import plot_series
from rememberer_tui.screens.plots import PlotsScreen
from replay.metrics import epoch_table
from store.recorder import SQLiteRecorder
from tests.audit_fixtures import AGENT_RUN, agent_db, app_on, runs_on
from tests.tui_fixtures import shown, wait_until

pytestmark = pytest.mark.anyio


async def open_plots(pilot) -> PlotsScreen:
    await runs_on(pilot, AGENT_RUN)
    await pilot.press("c")
    await wait_until(pilot, lambda: isinstance(pilot.app.screen, PlotsScreen) and pilot.app.screen.loaded)
    await pilot.pause()
    return pilot.app.screen


async def test_c_plots_the_epochs_and_the_memory_along_the_log() -> None:
    with SQLiteRecorder(agent_db(), create=False) as recorder:
        expected = plot_series(recorder, AGENT_RUN)
        epochs = epoch_table(recorder.read(0, run=AGENT_RUN))
    async with app_on(agent_db()).run_test(size=(120, 40)) as pilot:
        screen = await open_plots(pilot)
        assert screen.series == expected and list(screen.series.epochs) == epochs
        line = shown(screen.query_one("#plots-line", Static), 300)
        last = [row for row in epochs if row.epoch == epochs[-1].epoch]
        for row in last:
            assert f"{row.split}: average reward {row.average_reward:.3f}, success {row.success_rate:.0%}" in line
        assert f"memory: {expected.memory_size[-1]:,} records" in line
        drawn = {plot.id: plot.render().plain for plot in screen.query(PlotextPlot)}
        assert "average reward per epoch" in drawn["plot-reward"] and "train" in drawn["plot-reward"]
        assert "test" in drawn["plot-success"]
        assert f"{expected.positions[-1]:,}" in drawn["plot-size"]  # the last position on the axis
        assert "mean |ΔQ| per update" in drawn["plot-delta"]


@pytest.mark.parametrize("size", [(80, 24), (160, 48)], ids=["80x24", "160x48"])
def test_plots_screen_looks_as_approved(snap_compare, size: tuple[int, int]) -> None:
    assert snap_compare(app_on(agent_db()), terminal_size=size, run_before=open_plots)
