"""Pilot tests: each screen and each key, asserting what is shown."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from textual.command import CommandList, CommandPalette
from textual.widgets import Collapsible, DataTable, Input, Static

from rememberer_tui.app import make_app
from rememberer_tui.cli import cli
from rememberer_tui.data import RunStats, episode_detail, run_episodes
from rememberer_tui.messages import RunStatsLoaded
from rememberer_tui.screens.episode import EpisodeScreen
from rememberer_tui.screens.episodes import EpisodesScreen
from rememberer_tui.screens.help import HelpScreen
from rememberer_tui.screens.runs import RunsScreen
from store.events import RunStarted
from store.recorder import SQLiteRecorder, StoreError
from tests.tui_fixtures import add_offline_run, build_fixture_db, now, shown, wait_until

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_fixture_db(tmp_path_factory.mktemp("tui") / "memory.db")


def app_on(db: Path, **options):
    options = {"clock": now, "poll_interval": None, "play_interval": 0.05} | options
    return make_app(db, **options)


def cells(table: DataTable, key: str) -> list[str]:
    return [getattr(cell, "plain", cell) for cell in table.get_row(key)]


def row_keys(table: DataTable) -> list[str]:
    return [table.coordinate_to_cell_key((row, 0)).row_key.value for row in range(table.row_count)]


async def runs_ready(pilot) -> RunsScreen:
    app = pilot.app
    await wait_until(pilot, lambda: isinstance(app.screen, RunsScreen) and app.screen.loaded
                     and all(s.stats for s in app.screen.runs.values()) and app.integrity is not None)
    return app.screen


async def open_run(pilot, run: str) -> EpisodesScreen:
    screen = await runs_ready(pilot)
    table = screen.query_one("#runs", DataTable)
    table.move_cursor(row=table.get_row_index(run))
    await pilot.press("enter")
    await wait_until(pilot, lambda: isinstance(pilot.app.screen, EpisodesScreen) and pilot.app.screen.loaded)
    return pilot.app.screen


async def open_episode(pilot, run: str, episode: str) -> EpisodeScreen:
    screen = await open_run(pilot, run)
    table = screen.query_one("#episodes", DataTable)
    table.move_cursor(row=table.get_row_index(f"{run}/{episode}"))
    await pilot.press("enter")
    await wait_until(pilot, lambda: isinstance(pilot.app.screen, EpisodeScreen) and pilot.app.screen.loaded)
    return pilot.app.screen


async def memory_shown(pilot, screen: EpisodeScreen) -> None:
    await wait_until(pilot, lambda: screen.current().moment in screen.memory)


# --------------------------------------------------------------------------- runs


async def test_runs_screen_shows_each_run_with_its_figures(db: Path) -> None:
    async with app_on(db).run_test(size=(120, 30)) as pilot:
        screen = await runs_ready(pilot)
        table = screen.query_one("#runs", DataTable)
        assert row_keys(table) == ["session", "webshop"]
        assert cells(table, "session") == ["session", "wikihow", "gpt-test (llm)", "γ=0.9 n=1 mean",
                                           "3 (1 open)", "1.00", "100%", "5m"]
        assert cells(table, "webshop") == ["webshop", "trace", "recorded trace", "γ=1 n=1 mean",
                                           "5", "0.70", "60%", "5m"]
        # Figures arrive after the rows (here: as a worker would post them): the column grows.
        screen.post_message(RunStatsLoaded("session", RunStats(12345, 1, 1.0, 1.0)))
        await pilot.pause()
        assert cells(table, "session")[4] == "12345 (12344 open)"
        assert table.columns["episodes"].content_width >= len("12345 (12344 open)")
        detail = screen.query_one("#run-detail", Static)
        assert "last event #59 at 2026-01-01 00:00:00 (5m ago)" in shown(detail, 200)
        await pilot.press("down")
        assert "webshop · trace · recorded trace" in shown(detail, 200)


async def test_ages_follow_the_clock(db: Path) -> None:
    later = [now()]
    async with app_on(db, clock=lambda: later[0]).run_test(size=(120, 30)) as pilot:
        screen = await runs_ready(pilot)
        later[0] = now() + timedelta(hours=2)
        screen.refresh_ages()  # what its 15 s timer does
        assert cells(screen.query_one("#runs", DataTable), "session")[-1] == "2h"
        assert "(2h ago)" in shown(screen.query_one("#run-detail", Static), 200)


async def test_runs_screen_at_80_columns_moves_the_rl_config_below(db: Path) -> None:
    async with app_on(db).run_test(size=(80, 24)) as pilot:
        screen = await runs_ready(pilot)
        table = screen.query_one("#runs", DataTable)
        assert [c.label.plain for c in table.columns.values()] == [
            "run", "env", "LLM / policy", "episodes", "avg R", "success", "last"]
        assert "γ=0.9 n=1 mean" in shown(screen.query_one("#run-detail", Static), 200)


async def test_enter_opens_a_run_and_escape_comes_back(db: Path) -> None:
    async with app_on(db).run_test() as pilot:
        screen = await open_run(pilot, "webshop")
        assert screen.run == "webshop"
        await pilot.press("escape")
        assert isinstance(pilot.app.screen, RunsScreen)


async def test_clicking_a_run_highlights_then_opens_it(db: Path) -> None:
    async with app_on(db).run_test() as pilot:
        screen = await runs_ready(pilot)
        await pilot.click("#runs", offset=(3, 2))  # the header, then session, then webshop
        assert screen.selected_run() == "webshop" and pilot.app.screen is screen
        await pilot.click("#runs", offset=(3, 2))  # a click on the highlighted row opens it
        await wait_until(pilot, lambda: isinstance(pilot.app.screen, EpisodesScreen))
        assert pilot.app.screen.run == "webshop"


async def test_r_refreshes_the_runs_when_not_following(tmp_path: Path) -> None:
    db = build_fixture_db(tmp_path / "memory.db")
    async with app_on(db).run_test() as pilot:  # poll_interval None: no live follow
        screen = await runs_ready(pilot)
        with SQLiteRecorder(db) as recorder:
            recorder.append([RunStarted("another", environment="gym:CartPole-v1")], "another", 0)
        await pilot.pause(0.2)
        assert "another" not in screen.runs
        await pilot.press("r")
        await wait_until(pilot, lambda: "another" in screen.runs)
        assert cells(screen.query_one("#runs", DataTable), "another")[:2] == ["another", "gym:CartPole-v1"]


async def test_empty_database_says_what_to_do(tmp_path: Path) -> None:
    SQLiteRecorder(tmp_path / "empty.db").close()
    async with app_on(tmp_path / "empty.db").run_test() as pilot:
        await wait_until(pilot, lambda: isinstance(pilot.app.screen, RunsScreen) and pilot.app.screen.loaded)
        assert "No runs in this database yet" in shown(pilot.app.screen.query_one("#run-detail", Static))
        await pilot.press("enter")  # nothing to open: stays
        assert isinstance(pilot.app.screen, RunsScreen)


# --------------------------------------------------------------------------- episodes


async def test_episodes_screen_lists_epoch_split_task_steps_return_success(db: Path) -> None:
    async with app_on(db).run_test(size=(120, 30)) as pilot:
        screen = await open_run(pilot, "session")
        table = screen.query_one("#episodes", DataTable)
        assert row_keys(table) == ["session/s-1", "session/s-2", "session/s-3"]
        assert cells(table, "session/s-1") == ["s-1", "0", "train", "How to make green tea", "3", "1", "yes"]
        assert cells(table, "session/s-3") == ["s-3", "1", "test", "How to make green tea", "1", "0", "running"]
        assert "3 episodes · sorted by episode, ascending" in shown(screen.query_one("#episodes-line", Static))


async def test_slash_filters_by_task_text_and_escape_clears(db: Path) -> None:
    async with app_on(db).run_test() as pilot:
        screen = await open_run(pilot, "webshop")
        table = screen.query_one("#episodes", DataTable)
        await pilot.press("slash")
        assert screen.query_one("#filter", Input).has_focus
        await pilot.press(*"ISSEY")  # case does not matter
        assert row_keys(table) == ["webshop/ep-3", "webshop/ep-5"]
        assert "2 of 5 episodes" in shown(screen.query_one("#episodes-line", Static))
        await pilot.press("enter")  # back to the table, filter kept
        assert table.has_focus and table.row_count == 2
        await pilot.press("escape")  # clears the filter first
        assert table.row_count == 5 and not screen.query_one("#filter", Input).display
        await pilot.press("escape")
        assert isinstance(pilot.app.screen, RunsScreen)


async def test_s_sorts_by_the_next_column_and_shift_s_reverses(db: Path) -> None:
    async with app_on(db).run_test(size=(120, 30)) as pilot:
        screen = await open_run(pilot, "webshop")
        table = screen.query_one("#episodes", DataTable)
        await pilot.press("s")  # epoch
        assert [cells(table, k)[1] for k in row_keys(table)] == ["0", "0", "0", "1", "1"]
        assert "sorted by epoch, ascending" in shown(screen.query_one("#episodes-line", Static))
        await pilot.press("s", "s", "s", "s")  # split, task, steps, return
        assert row_keys(table) == ["webshop/ep-5", "webshop/ep-1", "webshop/ep-2", "webshop/ep-3",
                                   "webshop/ep-4"]
        assert table.columns["return"].label.plain == "return ▲"
        await pilot.press("S")
        assert row_keys(table)[:3] == ["webshop/ep-4", "webshop/ep-3", "webshop/ep-2"]
        assert row_keys(table)[-1] == "webshop/ep-5"
        assert "sorted by return, descending" in shown(screen.query_one("#episodes-line", Static))


async def test_a_long_run_lists_the_first_rows_of_the_current_order(db: Path, monkeypatch) -> None:
    monkeypatch.setattr("rememberer_tui.screens.episodes.MAX_ROWS", 2)
    async with app_on(db).run_test(size=(160, 30)) as pilot:
        screen = await open_run(pilot, "webshop")
        table = screen.query_one("#episodes", DataTable)
        line = screen.query_one("#episodes-line", Static)
        assert row_keys(table) == ["webshop/ep-1", "webshop/ep-2"]
        assert "showing the first 2: sort (s, S) or filter (/) for others" in shown(line, 200)
        await pilot.press("S")  # the newest first
        assert row_keys(table) == ["webshop/ep-5", "webshop/ep-4"]


async def test_clicking_a_header_sorts_by_that_column(db: Path) -> None:
    async with app_on(db).run_test(size=(120, 30)) as pilot:
        screen = await open_run(pilot, "webshop")
        table = screen.query_one("#episodes", DataTable)
        columns = list(table.columns.values())
        x = sum(c.get_render_width(table) for c in columns[:4]) + 1  # inside "steps"
        await pilot.click("#episodes", offset=(x, 0))
        assert screen.sort_column == 4
        assert [cells(table, k)[4] for k in row_keys(table)] == ["3", "3", "4", "5", "5"]
        await pilot.click("#episodes", offset=(x, 0))
        assert [cells(table, k)[4] for k in row_keys(table)] == ["5", "5", "4", "3", "3"]


# --------------------------------------------------------------------------- episode


async def test_episode_screen_shows_every_panel_of_a_step(db: Path) -> None:
    async with app_on(db).run_test(size=(160, 48)) as pilot:
        screen = await open_episode(pilot, "session", "s-2")
        assert "s-2 · How to make green tea · train · epoch 1 · 3 steps · return 1" in shown(
            screen.query_one("#episode-line", Static), 200)
        await pilot.press("end")
        await memory_shown(pilot, screen)
        summary = shown(screen.query_one("#step-summary", Static), 200)
        assert "Step 2 · 3 of 3 · position 52 · reward 1 · return 1 · terminated" in summary
        assert "Action: click[Next step]" in summary and "Reason: Step 2 of the recipe." in summary
        # The HTML-like screen keeps its structure.
        assert "\n  <h1>Make Green Tea</h1>" in shown(screen.query_one("#observation", Static))
        assert shown(screen.query_one("#available", Static)).split() == [
            "▶", "click[Next", "step]", "click[Back]"]
        retrieved = shown(screen.query_one("#retrieved", Static))
        assert "1. How to make green tea" in retrieved and "score 0.950 (lcs 0.900 · task 1.000)" in retrieved
        # Q-values replayed as of the moment before step 2: o1's click averaged 0 and 0.9.
        assert "Q then (replayed)" in retrieved
        assert "click[Next step]  Q 1 · 1 visit" in retrieved
        assert "click[Make Green Tea]  Q 0.45 · 2 visits" in retrieved
        state = screen.query_one("#state-memory", Static)
        assert "click[Next step]  Q 1 · 1 visit" in shown(state)
        assert state.border_subtitle == "as of position 51, before this step"
        assert "Encouraged:" in shown(screen.query_one("#exemplars", Static))
        assert "── system ──\nYou are a WikiHow agent." in shown(screen.query_one("#prompt", Static))
        response = shown(screen.query_one("#response", Static))
        assert "attempt 1 · gpt-test · 122+30 tokens · 252 ms" in response
        assert "click[Next step] -> 1.0 The next step of the task." in response
        await pilot.press("p")
        await memory_shown(pilot, screen)
        # Before step 1 of s-2, o1's action had its single visit from s-1: Q 0.
        assert "click[Make Green Tea]  Q 0 · 1 visit" in shown(state)
        assert state.border_subtitle == "as of position 48, before this step"


async def test_n_p_home_end_move_between_the_steps_of_a_trace(db: Path) -> None:
    async with app_on(db).run_test(size=(160, 48)) as pilot:
        screen = await open_episode(pilot, "webshop", "ep-2")
        summary = screen.query_one("#step-summary", Static)
        assert screen.shown_step == 0
        await memory_shown(pilot, screen)
        observation = screen.query_one("#observation", Static)
        assert observation.content.plain.startswith("WebShop\nInstruction:")
        assert "no retrieval recorded" in shown(screen.query_one("#retrieved", Static))
        assert "no LLM exchange recorded" in shown(screen.query_one("#response", Static))
        # ep-1 visited this state once before: its search is in memory with Q 0.
        assert "search[3 ounce bright citrus deodorant sensitive skin]  Q 0 · 1 visit" in shown(
            screen.query_one("#state-memory", Static), 200)
        # Actions are text, not markup: "[b078gwrc1j]" is not read as a style.
        assert cells(screen.query_one("#steps", DataTable), "1") == ["1", "click[b078gwrc1j]", "0"]
        await pilot.press("n", "n")
        assert screen.shown_step == 2 and "Step 2 · 3 of 5" in shown(summary)
        await pilot.press("p")
        assert screen.shown_step == 1 and "Action: click[b078gwrc1j]" in shown(summary)
        await pilot.press("end")
        assert screen.shown_step == 4 and "reward 1 · return 1 · terminated" in shown(summary)
        await pilot.press("n")  # stays on the last step
        assert screen.shown_step == 4
        await pilot.press("home")
        assert screen.shown_step == 0
        await pilot.press("p")
        assert screen.shown_step == 0


async def test_an_offline_agent_step_shows_its_memory_replayed(tmp_path: Path) -> None:
    db = add_offline_run(tmp_path / "offline.db")
    with SQLiteRecorder(db, create=False) as recorder:
        second = next(e for e in run_episodes(recorder, "offline") if e.epoch == 1)
        step = episode_detail(recorder, second.stream).steps[0]
    best = max(step.retrieved.records[0]["actions"], key=lambda a: a["q"])
    async with app_on(db).run_test(size=(160, 48)) as pilot:
        screen = await open_episode(pilot, "offline", second.episode)
        await memory_shown(pilot, screen)
        retrieved = shown(screen.query_one("#retrieved", Static), 160)
        assert "Q then (replayed)" in retrieved
        assert f"{best['action']}  Q {best['q']:.4g}" in retrieved


async def test_a_failed_llm_attempt_and_the_folded_prompt(db: Path) -> None:
    async with app_on(db).run_test(size=(160, 48)) as pilot:
        screen = await open_episode(pilot, "session", "s-1")
        response = shown(screen.query_one("#response", Static))
        assert "attempt 1 · gpt-test · 120+30 tokens · 250 ms\nerror: rate limited (429)" in response
        assert "attempt 2" in response
        assert "empty memory" in shown(screen.query_one("#retrieved", Static))
        assert screen.query_one("#exemplars-box", Collapsible).title == "Exemplars (none)"
        prompt_box = screen.query_one("#prompt-box", Collapsible)
        assert prompt_box.collapsed and prompt_box.title == "Prompt (2 messages)"
        await pilot.click("#prompt-box CollapsibleTitle")
        assert not prompt_box.collapsed
        assert screen.query_one("#prompt", Static).region.height > 3


async def test_space_plays_to_the_last_step_and_stops(db: Path) -> None:
    async with app_on(db, play_interval=0.05).run_test() as pilot:
        screen = await open_episode(pilot, "webshop", "ep-2")
        await pilot.press("space")
        await wait_until(pilot, lambda: screen.shown_step == 4 and not screen.playing)


async def test_space_at_the_end_restarts_and_escape_stops(db: Path) -> None:
    # An interval no test run reaches: what is shown depends on the keys alone.
    async with app_on(db, play_interval=60).run_test() as pilot:
        screen = await open_episode(pilot, "webshop", "ep-2")
        await pilot.press("end", "space")  # at the end: plays again from the start
        assert screen.shown_step == 0 and screen.playing
        await pilot.press("space")
        assert not screen.playing
        await pilot.press("space", "escape")  # going back stops the player
        assert not screen.playing and isinstance(pilot.app.screen, EpisodesScreen)


async def test_space_pauses_the_player(db: Path) -> None:
    async with app_on(db, play_interval=0.3).run_test() as pilot:
        screen = await open_episode(pilot, "webshop", "ep-2")
        await pilot.press("space")
        await wait_until(pilot, lambda: screen.shown_step >= 1)
        await pilot.press("space")
        assert not screen.playing
        paused_at = screen.shown_step
        await pilot.pause(0.7)
        assert screen.shown_step == paused_at


# --------------------------------------------------------------------------- everywhere


async def test_question_mark_lists_every_screens_keys(db: Path) -> None:
    async with app_on(db).run_test(size=(120, 40)) as pilot:
        await open_run(pilot, "webshop")
        await pilot.press("question_mark")
        assert isinstance(pilot.app.screen, HelpScreen)
        text = shown(pilot.app.screen.query_one("#help", Static), 120)
        for line in ("/", "Filter", "s", "Sort by the next column", "space", "Play/pause", "home",
                     "First step", "?", "Help", "ctrl+p", "Command palette"):
            assert line in text
        await pilot.press("escape")
        assert isinstance(pilot.app.screen, EpisodesScreen)


async def test_t_switches_between_light_and_dark(db: Path) -> None:
    app = app_on(db)
    async with app.run_test() as pilot:
        await runs_ready(pilot)
        assert app.theme == "textual-dark"
        await pilot.press("t")
        assert app.theme == "textual-light" and not app.current_theme.dark
        await pilot.press("t")
        assert app.theme == "textual-dark"
    light = app_on(db, theme="textual-light")
    async with light.run_test() as pilot:
        await runs_ready(pilot)
        assert light.theme == "textual-light"


async def test_command_palette_reaches_help(db: Path) -> None:
    async with app_on(db).run_test(size=(100, 30)) as pilot:
        await runs_ready(pilot)
        await pilot.press("ctrl+p")
        await wait_until(pilot, lambda: isinstance(pilot.app.screen, CommandPalette))
        await pilot.press(*"help")
        palette = pilot.app.screen
        await wait_until(pilot, lambda: palette.query_one(CommandList).option_count > 0)
        await pilot.press("down", "enter")
        await wait_until(pilot, lambda: isinstance(pilot.app.screen, HelpScreen))


async def test_q_quits(db: Path) -> None:
    app = app_on(db)
    async with app.run_test() as pilot:
        await runs_ready(pilot)
        await pilot.press("q")
        await wait_until(pilot, lambda: not app.is_running)


def test_make_app_refuses_a_file_that_is_not_a_rememberer_database(tmp_path: Path) -> None:
    bogus = tmp_path / "notes.db"
    bogus.write_text("not sqlite at all " * 100)
    with pytest.raises(StoreError):
        make_app(bogus)
    result = CliRunner().invoke(cli, ["tui", str(bogus)])
    assert result.exit_code == 1
    assert "not a rememberer database" in result.output and len(result.output.strip().splitlines()) == 1
    missing = CliRunner().invoke(cli, ["tui", str(tmp_path / "missing.db")])
    assert missing.exit_code == 2 and "does not exist" in missing.output

