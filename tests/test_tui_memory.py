"""The memory screen: scrubbing through the log shows the table `rememberer qtable --at`
prints; filter, sort, the actions of a record, export; and how it looks."""

from __future__ import annotations

import asyncio
import csv
import json
import sys
from bisect import bisect_right
from pathlib import Path

import pytest
from click.testing import CliRunner
from textual.widgets import DataTable, Input

from rememberer_tui.audit import episode_marks, epoch_ends, run_positions
from rememberer_tui.cli import cli
from rememberer_tui.scrubber import table_rows
from rememberer_tui.screens.memory import MemoryScreen
from rememberer_tui.widgets.position_bar import PositionBar, bar
from replay.fold import qtable_rows
from replay.projection import replay_run
from store.recorder import SQLiteRecorder
from tests.audit_fixtures import (
    AGENT_RUN,
    SYNTHETIC_RUN,
    agent_db,
    app_on,
    copy_db,
    open_memory,
    settled,
    synthetic_db,
)
from tests.test_projection import CAPACITY_RUN, capacity_db, first_difference, own_replay, qtable_at
from tests.tui_fixtures import wait_until

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
def db() -> Path:
    return agent_db()


@pytest.fixture(scope="module")
def layout(db: Path) -> dict:
    with SQLiteRecorder(db, create=False) as recorder:
        positions = list(run_positions(recorder, AGENT_RUN))
        marks = episode_marks(recorder, AGENT_RUN)
    return {"positions": positions, "episode_ends": sorted(m.last for m in marks),
            "epoch_ends": [end for _, end in epoch_ends(marks)]}


def qtable_json(db: Path, position: int) -> list[dict]:
    result = CliRunner().invoke(cli, ["qtable", "--db", str(db), "--run", AGENT_RUN, "--at", str(position),
                                      "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def shown_records(screen: MemoryScreen) -> list[str]:
    table = screen.query_one("#records", DataTable)
    return [table.get_row_at(row)[0].plain for row in range(table.row_count)]


async def test_scrubbing_shows_the_table_qtable_prints(db: Path, layout: dict) -> None:
    positions, episodes, epochs = layout["positions"], layout["episode_ends"], layout["epoch_ends"]
    async with app_on(db).run_test(size=(120, 40)) as pilot:
        screen = await open_memory(pilot)
        expected = [positions[-1]]
        await settled(pilot, screen)
        # Each key, and where it must land: the previous event, the end of the episode
        # before, the end of the epoch before, then forward again, then a typed position.
        for keys, where in (
            (["left_square_bracket"], lambda p: positions[positions.index(p) - 1]),
            (["left_square_bracket"], lambda p: positions[positions.index(p) - 1]),
            (["left_curly_bracket"], lambda p: max(e for e in episodes if e < p)),
            (["left_curly_bracket"], lambda p: max(e for e in episodes if e < p)),
            (["less_than_sign"], lambda p: max(e for e in epochs if e < p)),
            (["right_curly_bracket"], lambda p: min(e for e in episodes if e > p)),
            (["right_square_bracket"], lambda p: positions[bisect_right(positions, p)]),
            (["g", *"57", "enter"], lambda p: 57),
            (["greater_than_sign"], lambda p: min(e for e in epochs if e > p)),
        ):
            want = where(expected[-1])
            await pilot.press(*keys)
            await wait_until(pilot, lambda: screen.target == want)
            await settled(pilot, screen)
            expected.append(want)
            assert table_rows(screen.memory.records) == qtable_json(db, want)
            records = {r.key: r for r in screen.memory.records}
            shown_lines = shown_records(screen)
            assert len(shown_lines) == len(records)
            for line, record in zip(shown_lines, screen.rows):
                assert f"{record.best.q:.4g}" in line and str(record.visits) in line
            bar = screen.query_one(PositionBar).render().plain
            assert f"position {want:,}" in bar and f"{len(records)} records" in bar
        assert expected[1:3] == positions[-2:-4:-1]
        assert all(a != b for a, b in zip(expected, expected[1:]))  # every key moved


async def test_the_event_shown_is_explained_and_its_record_is_bold(db: Path, layout: dict) -> None:
    async with app_on(db).run_test(size=(120, 40)) as pilot:
        screen = await open_memory(pilot)
        # The last transition of the last training episode applies its last updates.
        with SQLiteRecorder(db, create=False) as recorder:
            train_end = max(m.last for m in episode_marks(recorder, AGENT_RUN) if m.split == "train")
            last_transition = max(r.position for r in recorder.read(0, run=AGENT_RUN)
                                  if type(r.event).__name__ == "TransitionRecorded" and r.position <= train_end)
        await pilot.press("g", *str(last_transition), "enter")
        await wait_until(pilot, lambda: screen.target == last_transition)
        await settled(pilot, screen)
        assert screen.memory.changed
        note = screen.query_one(PositionBar).render().plain
        assert "Q(" in note and "→" in note
        changed_keys = {key for _, key, _, _ in screen.memory.changed}
        table = screen.query_one("#records", DataTable)
        for index, record in enumerate(screen.rows):
            spans = table.get_row_at(index)[0].spans
            assert any("bold" in str(s.style) for s in spans) == (record.key in changed_keys)


async def test_filter_sort_and_the_actions_of_a_record(db: Path) -> None:
    async with app_on(db).run_test(size=(120, 40)) as pilot:
        screen = await open_memory(pilot)
        await settled(pilot, screen)
        every = len(screen.memory.records)
        await pilot.press("slash", *"buy now")
        await wait_until(pilot, lambda: screen.filter_text == "buy now")
        assert 0 < len(screen.rows) < every
        assert all("buy now" in r.observation.casefold() or "buy now" in r.task.casefold()
                   or any("buy now" in a.action for a in r.actions) for r in screen.rows)
        await pilot.press("enter", "s", "s", "s", "s")  # filter done; sort by the best Q
        assert screen.sort_column == 4 and screen.sort_reverse
        qs = [r.best.q for r in screen.rows]
        assert qs == sorted(qs, reverse=True)
        await pilot.press("S")
        assert [r.best.q for r in screen.rows] == sorted(qs)
        await pilot.press("escape", "slash", "escape")  # clears the filter
        await wait_until(pilot, lambda: len(screen.rows) == every)
        # The record with the most actions: enter lists them, highest Q first.
        target = max(screen.rows, key=lambda r: (len(r.actions), r.key))
        table = screen.query_one("#records", DataTable)
        table.move_cursor(row=screen.rows.index(target))
        await pilot.press("enter")
        actions = screen.query_one("#actions", DataTable)
        await wait_until(pilot, lambda: actions.has_focus)
        listed = [actions.get_row_at(i) for i in range(actions.row_count)]
        expected = sorted(target.actions, key=lambda a: (-a.q, a.action))
        assert [row[0].plain for row in listed] == [a.action for a in expected]
        assert [row[4].plain for row in listed] == [f"{a.last_position:,}" for a in expected]
        await pilot.press("escape")
        assert table.has_focus and isinstance(pilot.app.screen, MemoryScreen)


async def test_export_writes_the_records_shown(db: Path, tmp_path: Path) -> None:
    async with app_on(db).run_test(size=(120, 40)) as pilot:
        screen = await open_memory(pilot)
        await settled(pilot, screen)
        await pilot.press("g", *"150", "enter")
        await wait_until(pilot, lambda: screen.target == 150)
        await settled(pilot, screen)
        await pilot.press("x")
        box = await _export_box(pilot)
        assert box.value == "memory-agent-at-150.csv"
        box.value = str(tmp_path / "all.json")
        await pilot.press("enter")
        await wait_until(pilot, lambda: (tmp_path / "all.json").exists())
        assert json.loads((tmp_path / "all.json").read_text()) == qtable_json(db, 150)
        await pilot.press("slash", *"search")
        await wait_until(pilot, lambda: screen.filter_text == "search")
        await pilot.press("enter", "x")
        box = await _export_box(pilot)
        box.value = str(tmp_path / "search.csv")
        await pilot.press("enter")
        await wait_until(pilot, lambda: (tmp_path / "search.csv").exists())
        await pilot.pause(0.1)
        with (tmp_path / "search.csv").open(newline="") as handle:
            rows = list(csv.DictReader(handle))
        keys = {r.key for r in screen.rows}
        assert rows and {(row["task"], row["observation"]) for row in rows} == keys
        assert len(rows) == sum(len(r.actions) for r in screen.rows)


def test_the_position_bar_marks_the_position_and_the_epochs() -> None:
    line = bar(1, 101, 51, [26, 101], 30).plain
    assert line.startswith("1 ") and line.endswith(" 101") and len(line) == 30
    inner = line[2:-4]
    assert inner.index("●") == len(inner) // 2 and inner.count("┊") == 1  # the run's end is no tick
    assert inner.index("┊") < inner.index("●") and set(inner[:inner.index("┊")]) == {"━"}


async def _export_box(pilot) -> Input:
    await wait_until(pilot, lambda: pilot.app.screen.query("#export-path"))
    return pilot.app.screen.query_one("#export-path", Input)


async def test_the_journal_is_extended_back_in_the_background_over_snapshots() -> None:
    """On a run with snapshots the screen opens from the last one, then folds the
    stretches before it in a worker: stepping back past it folds nothing."""
    db = synthetic_db()
    async with app_on(db).run_test(size=(100, 30)) as pilot:
        screen = await open_memory(pilot, SYNTHETIC_RUN)
        assert screen.memory.snapshot == screen.positions[-1]  # write_snapshots saves the end too
        await wait_until(pilot, lambda: screen.scrubber.base == 0)
        for _ in range(3):
            await pilot.press("less_than_sign", "left_square_bracket")
            await settled(pilot, screen)
            assert screen.memory.folded == 0 and screen.memory.snapshot is None
        with SQLiteRecorder(db, create=False) as recorder:
            replayed = own_replay(recorder, SYNTHETIC_RUN, upto=screen.memory.position, use_snapshots=False)
        assert table_rows(screen.memory.records) == qtable_rows(replayed)


async def test_an_item_capacity_run_scrubs_through_its_own_evictions(tmp_path: Path) -> None:
    """The memory screen of a run whose matcher evicts otherwise than the fold's default
    similarity shows what `rememberer qtable --at` prints, from the start and from a snapshot."""
    db = capacity_db(tmp_path / "cap.db")
    result = CliRunner().invoke(cli, ["snapshot", "--db", str(db), "--run", CAPACITY_RUN, "--every", "60"])
    assert result.exit_code == 0, result.output
    with SQLiteRecorder(db, create=False) as recorder:
        differs, end = first_difference(recorder), recorder.max_position()
    async with app_on(db).run_test(size=(120, 40)) as pilot:
        screen = await open_memory(pilot, CAPACITY_RUN)
        await settled(pilot, screen)
        assert screen.memory.snapshot == end  # from the snapshot `rememberer snapshot` saved
        assert table_rows(screen.memory.records) == qtable_at(db, end)
        for want in (differs, differs - 1, (differs + end) // 2):
            await pilot.press("g", *str(want), "enter")
            await wait_until(pilot, lambda: screen.target == want)
            await settled(pilot, screen)
            assert table_rows(screen.memory.records) == qtable_at(db, want)


async def test_a_run_growing_elsewhere_is_followed_at_its_end(tmp_path: Path) -> None:
    db = copy_db(agent_db(), tmp_path / "live.db")
    trace = tmp_path / "more.jsonl"
    task = "i want a red mug under 10 dollars"
    lines = [{"episode": "late", "task": task, "observation": "WebShop [Search]", "action": "search[red mug]",
              "reward": 0.0, "next_observation": "results", "done": False, "split": "train", "epoch": 3},
             {"episode": "late", "task": task, "observation": "results", "action": "click[buy now]",
              "reward": 1.0, "next_observation": "Thank you", "done": True}]
    trace.write_text("".join(json.dumps(line) + "\n" for line in lines))
    async with app_on(db, poll_interval=0.05).run_test(size=(100, 30)) as pilot:
        screen = await open_memory(pilot, "webshop")
        before = len(screen.memory.records)
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "rememberer_tui", "ingest", str(trace), "--db", str(db), "--run", "webshop",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        _, err = await proc.communicate()
        assert proc.returncode == 0, err.decode()
        await wait_until(pilot, lambda: len(screen.memory.records) == before + 2)
        with SQLiteRecorder(db, create=False) as recorder:
            end = recorder.max_position()
            assert screen.memory.position == end
            assert table_rows(screen.memory.records) == qtable_rows(replay_run(recorder, "webshop"))


# --------------------------------------------------------------------------- snapshots


async def _at_epoch_end(pilot) -> None:
    screen = await open_memory(pilot)
    await settled(pilot, screen)
    await pilot.press("less_than_sign")  # the end of epoch 0
    await wait_until(pilot, lambda: screen.target != screen.positions[-1])
    await settled(pilot, screen)


@pytest.mark.parametrize("size", [(80, 24), (160, 48)], ids=["80x24", "160x48"])
def test_memory_screen_looks_as_approved(snap_compare, db: Path, size: tuple[int, int]) -> None:
    assert snap_compare(app_on(db), terminal_size=size, run_before=_at_epoch_end)
