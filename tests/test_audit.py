"""The audit screens' read side on its own: scrubbing, provenance, diff, plot series, export."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
import zlib
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rememberer_tui.audit import (
    TrailCache,
    episode_at,
    episode_marks,
    epoch_ends,
    plot_series,
    provenance,
    provenance_rows,
    run_positions,
    run_span,
    table_diff,
    target_terms,
)
from rememberer_tui.cli import cli
from rememberer_tui.export import default_name, write_rows
from rememberer_tui.scrubber import Scrubber, table_rows
from replay import projection, snapshots
from replay.fold import qtable_rows, trail_for
from replay.metrics import epoch_table
from replay.projection import replay_run
from replay.trail import Eviction, Pruning, TrailEntry, replay_trail
from store import reader_process
from store.events import EpisodeEnded, EpisodeStarted, RLConfig
from store.recorder import SQLiteRecorder
from tests.audit_fixtures import AGENT_RUN, SYNTHETIC_RUN, agent_db, synthetic_db
from tests.test_projection import CAPACITY_RUN, capacity_db, first_difference, own_replay, qtable_at


@pytest.fixture(scope="module")
def agent() -> SQLiteRecorder:
    with SQLiteRecorder(agent_db(), create=False) as recorder:
        yield recorder


@pytest.fixture(scope="module")
def walk() -> SQLiteRecorder:
    with SQLiteRecorder(synthetic_db(), create=False) as recorder:
        yield recorder


_expected: dict[tuple[str, int], list[dict]] = {}


def expected_rows(recorder: SQLiteRecorder, run: str, position: int) -> list[dict]:
    """The table `rememberer qtable --at` prints, folded from the first event."""
    key = (run, position)
    if key not in _expected:
        _expected[key] = qtable_rows(own_replay(recorder, run, upto=position, use_snapshots=False))
    return _expected[key]


# --------------------------------------------------------------------------- scrubbing


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(moves=st.lists(st.integers(0, 481), min_size=1, max_size=10),
       max_changes=st.sampled_from([8, 60, 400_000]), refold_limit=st.sampled_from([0, 50, 20_000]))
def test_scrubbing_anywhere_gives_the_replayed_table(walk, moves, max_changes, refold_limit) -> None:
    """Capacities (prunings, evictions), n = 2, snapshots every 100 events, a journal that
    forgets: wherever the moves go, the table is the fold's as of that position."""
    scrubber = Scrubber(SYNTHETIC_RUN, max_changes=max_changes, refold_limit=refold_limit)
    previous: dict = {}
    for serial, target in enumerate(moves, start=1):
        memory = scrubber.move(walk, target)
        assert memory.position == target and memory.serial == serial
        assert table_rows(memory.records) == expected_rows(walk, SYNTHETIC_RUN, target)
        assert scrubber.base <= target <= scrubber.frontier
        # What `touched` says changed since the previous memory takes it to this one.
        if memory.touched is None:
            previous = {}
        for key, view in (memory.touched or {r.key: r for r in memory.records}).items():
            if view is None:
                previous.pop(key, None)  # gone, or came and went within the move
            else:
                previous[key] = view
        assert previous == {r.key: r for r in memory.records}


def test_scrubbing_with_a_helper_reading_the_log_gives_the_same_tables(walk, monkeypatch) -> None:
    """Long stretches are read by a helper process (here every stretch is long)."""
    monkeypatch.setattr(projection, "HELPER_FROM", 1)
    started = []
    read_events = reader_process.read_events
    monkeypatch.setattr(reader_process, "read_events", lambda *a, **k: started.append(a) or read_events(*a, **k))
    scrubber = Scrubber(SYNTHETIC_RUN, max_changes=60)
    for target in (330, 7, 481, 129, 250):
        assert table_rows(scrubber.move(walk, target).records) == expected_rows(walk, SYNTHETIC_RUN, target)
        assert scrubber.extend_back(walk) in (True, False)
        assert table_rows(scrubber.move(walk, target - 1).records) == expected_rows(walk, SYNTHETIC_RUN, target - 1)
    assert len(started) >= 5


def test_stepping_back_undoes_the_journal_without_folding(walk) -> None:
    scrubber = Scrubber(SYNTHETIC_RUN)
    end = scrubber.move(walk, 481)
    assert end.snapshot == 481 and end.folded == 0  # from the snapshot at the end
    assert scrubber.base == 481 and scrubber.can_extend
    assert scrubber.extend_back(walk)  # what the screen does in the background
    assert scrubber.base == 400
    for position in reversed(run_positions(walk, SYNTHETIC_RUN)[-25:]):
        memory = scrubber.move(walk, position)
        assert memory.folded == 0 and memory.snapshot is None
        assert table_rows(memory.records) == expected_rows(walk, SYNTHETIC_RUN, position)
    back = scrubber.move(walk, 350)  # before the journal's base: restart from a snapshot
    assert back.snapshot == 300 and back.folded == 50
    assert scrubber.base == 349  # the journal starts at the target; the stretch before it ...
    forward = scrubber.move(walk, 481)  # within the refold limit: folded on, no snapshot
    assert forward.snapshot is None and forward.folded == 131
    assert table_rows(forward.records) == expected_rows(walk, SYNTHETIC_RUN, 481)
    assert scrubber.extend_back(walk) and scrubber.base == 300  # ... is journaled in the background
    assert table_rows(scrubber.move(walk, 320).records) == expected_rows(walk, SYNTHETIC_RUN, 320)
    assert scrubber.extend_back(walk) and scrubber.base == 200
    assert table_rows(scrubber.move(walk, 250).records) == expected_rows(walk, SYNTHETIC_RUN, 250)
    jumpy = Scrubber(SYNTHETIC_RUN, refold_limit=50)
    jumpy.move(walk, 10)
    assert jumpy.move(walk, 290).snapshot == 200  # far ahead: a newer snapshot beats folding


def test_a_forged_snapshot_is_skipped_by_the_scrubber_too(walk, tmp_path: Path) -> None:
    copy = tmp_path / "forged.db"
    walk.conn.execute("VACUUM INTO ?", (str(copy),))
    with SQLiteRecorder(copy, create=False) as recorder:
        text = own_replay(recorder, SYNTHETIC_RUN, upto=120, use_snapshots=False).to_json()
        recorder.conn.execute("UPDATE snapshots SET state = ?, content_hash = ? WHERE position = 300",
                              (zlib.compress(text.encode()), snapshots.content_hash(text)))
        memory = Scrubber(SYNTHETIC_RUN).move(recorder, 350)
        assert memory.snapshot == 200 and memory.folded == 150  # not from the forged one at 300
        assert table_rows(memory.records) == expected_rows(walk, SYNTHETIC_RUN, 350)


def test_the_changes_of_an_event_are_reported_with_before_and_after(walk) -> None:
    scrubber = Scrubber(SYNTHETIC_RUN)
    # Position 40 makes room in a full memory: a record goes, another comes and is updated.
    state_before = own_replay(walk, SYNTHETIC_RUN, upto=39, use_snapshots=False)
    memory = scrubber.move(walk, 40)
    changed = memory.changed
    assert all(position == 40 for position, *_ in changed)
    assert {before is None for _, _, before, _ in changed} == {True, False}
    assert any(after is None for *_, after in changed)
    for _, key, before, after in changed:
        old = state_before.records.get(key)
        assert (before is None) == (old is None)
        if old is not None:
            assert {a.action: a.q for a in before.actions} == {a: s.q for a, s in old.actions.items()}
        assert (after is None) == (key not in {r.key for r in memory.records})


def test_positions_and_episode_marks(agent) -> None:
    first, last = run_span(agent, AGENT_RUN)
    assert first == 1 and last > 100
    positions = run_positions(agent, AGENT_RUN)
    assert list(positions) == [r.position for r in agent.read(0, run=AGENT_RUN)]
    assert positions[0] == first and positions[-1] == last
    marks = episode_marks(agent, AGENT_RUN)
    assert len(marks) == 2 * (4 + 2)
    for mark in marks:
        events = agent.read_stream(mark.stream)
        assert isinstance(events[0].event, EpisodeStarted) and events[0].position == mark.first
        assert isinstance(events[-1].event, EpisodeEnded) and events[-1].position == mark.last
        assert (mark.epoch, mark.split) == (events[0].event.epoch, events[0].event.split)
    ends = epoch_ends(marks)
    assert [epoch for epoch, _ in ends] == [0, 1] and ends[-1][1] == last
    assert ends[0][1] == max(m.last for m in marks if m.epoch == 0)
    middle = marks[3]
    assert episode_at(marks, middle.first + 1) == middle
    assert episode_at(marks, 1) is None


# --------------------------------------------------------------------------- provenance


def test_provenance_lists_the_trail_and_replays_to_the_shown_q(agent) -> None:
    end = run_span(agent, AGENT_RUN)[1]
    state = replay_run(agent, AGENT_RUN, trail=True)
    cache = TrailCache()
    checked = 0
    for record in state.records.values():
        for action, stats in record.actions.items():
            found = provenance(agent, AGENT_RUN, record.state_key, action, end, trails=cache)
            entries = trail_for(state, record.state_key, action)
            assert [row.entry for row in found.updates] == entries
            assert found.q == stats.q and found.visits == stats.visits
            assert found.replayed == stats.q and found.consistent
            for row in found.updates:  # each update comes with its own transition
                assert row.transition.observation == record.observation
                assert row.transition.action == action
                assert row.transition.step == row.entry.step
                assert row.stream == f"{AGENT_RUN}/{row.entry.episode}"
            checked += 1
    assert checked == sum(len(r.actions) for r in state.records.values()) > 20


def test_provenance_earlier_in_the_run_and_with_a_what_if_config(agent) -> None:
    cache = TrailCache()
    position = 120
    earlier = replay_run(agent, AGENT_RUN, upto=position, trail=True)
    key, record = next(iter(earlier.records.items()))
    action = next(iter(record.actions))
    found = provenance(agent, AGENT_RUN, key, action, position, trails=cache)
    assert all(row.entry.position <= position for row in found.updates)
    assert found.replayed == record.actions[action].q
    what_if = RLConfig(gamma=0.5, n_step=1)
    other = provenance(agent, AGENT_RUN, key, action, position, config=what_if, trails=cache)
    replayed = replay_run(agent, AGENT_RUN, upto=position, config=what_if)
    assert other.replayed == replayed.records[key].actions[action].q
    assert all(row.entry.gamma == 0.5 and len(row.entry.rewards) == 1 for row in other.updates)


def test_provenance_reports_prunings_and_evictions(walk) -> None:
    state = own_replay(walk, SYNTHETIC_RUN, trail=True, use_snapshots=False)
    pruning = next(f for f in state.facts if isinstance(f, Pruning))
    key = (pruning.task, pruning.observation)
    found = provenance(walk, SYNTHETIC_RUN, key, pruning.action, 481)
    assert pruning in found.facts
    assert all(isinstance(f, Eviction) or f.action == pruning.action for f in found.facts)
    # Its trail restarted after the pruning: only updates after the last removal remain.
    last_removal = max(f.position for f in found.facts)
    assert all(row.entry.position >= last_removal for row in found.updates)
    rows = provenance_rows(found)
    assert [r["kind"] for r in rows[len(found.updates):]] == [
        "pruned" if isinstance(f, Pruning) else f.kind for f in found.facts]


def test_target_terms_write_out_the_n_step_return() -> None:
    entry = TrailEntry(kind="update", position=9, occurrence=7, episode="e", step=1, table=0,
                       rewards=(0.0, 1.0), gamma=0.9, discount=0.81, bootstrap=0.5,
                       bootstrap_from=("t", "o"), bootstrap_action=None, target=1.305,
                       old_q=0.0, new_q=1.305, visits=1)
    assert target_terms(entry) == "0 + 0.9×1 + 0.81×V 0.5 = 1.305"
    assert entry.recomputed_target() == pytest.approx(1.305)
    assert replay_trail([entry], RLConfig(gamma=0.9, n_step=2)) == 1.305


# --------------------------------------------------------------------------- diff and plots


def test_table_diff_equals_the_cli(agent) -> None:
    ends = epoch_ends(episode_marks(agent, AGENT_RUN))
    at, against = ends[0][1], ends[1][1]
    result = CliRunner().invoke(cli, ["diff", "--db", str(agent_db()), "--run", AGENT_RUN,
                                      "--at", str(at), "--against", str(against), "--gamma", "0.8", "--json"])
    assert result.exit_code == 0, result.output
    printed = json.loads(result.output)
    mine = table_diff(agent, AGENT_RUN, at, against, RLConfig(gamma=0.8, n_step=2))
    assert json.loads(json.dumps(mine.to_dict())) == {k: v for k, v in printed.items() if k not in "ab"}
    assert mine.actions and mine.count("changed")


def test_plot_series_follow_the_fold(agent) -> None:
    series = plot_series(agent, AGENT_RUN, points=10)
    events = list(agent.read(0, run=AGENT_RUN))
    assert list(series.epochs) == epoch_table(events)
    first, last = run_span(agent, AGENT_RUN)
    assert len(series.positions) == 10 and series.positions[-1] == last
    steps = {b - a for a, b in zip(series.positions, series.positions[1:-1])}
    assert len(steps) == 1 and series.positions[0] == first + steps.pop() - 1
    for position, size in zip(series.positions, series.memory_size):
        assert size == len(replay_run(agent, AGENT_RUN, upto=position).records)
    # Mean |ΔQ| per update between two points, recomputed from the trail (no capacities here).
    state = replay_run(agent, AGENT_RUN, trail=True)
    entries = [e for trail in state.trails.values() for e in trail]
    previous = 0
    for position, mean in zip(series.positions, series.mean_abs_delta):
        inside = [abs(e.new_q - e.old_q) for e in entries if previous < e.position <= position]
        assert mean == pytest.approx(sum(inside) / len(inside) if inside else 0.0)
        previous = position


# --------------------------------------------------------------------------- item capacity


@pytest.fixture(scope="module")
def capacity(tmp_path_factory) -> Path:
    return capacity_db(tmp_path_factory.mktemp("capacity") / "cap.db")


def test_an_item_capacity_run_is_audited_with_its_own_evictions(capacity: Path) -> None:
    """The scrubber, provenance, diff and plots of a run whose matcher evicts otherwise
    than the fold's default similarity: each agrees with `rememberer qtable --at`."""
    with SQLiteRecorder(capacity, create=False) as recorder:
        differs, end = first_difference(recorder), recorder.max_position()
        positions = [differs - 1, differs, (differs + end) // 2, end, differs]
        tables = {p: qtable_at(capacity, p) for p in positions}
        scrubber, trails = Scrubber(CAPACITY_RUN), TrailCache()
        for position in positions:
            assert table_rows(scrubber.move(recorder, position).records) == tables[position]
            state = own_replay(recorder, CAPACITY_RUN, upto=position, trail=True)
            for key, record in state.records.items():
                for action, stats in record.actions.items():
                    found = provenance(recorder, CAPACITY_RUN, key, action, position, trails=trails)
                    assert found.q == stats.q and found.consistent
                    assert found.facts == tuple(f for f in state.facts if (f.task, f.observation) == key
                                                and (isinstance(f, Eviction) or f.action == action))
            assert {(r["task"], r["observation"], r["action"], r["q"]) for r in tables[position]} == {
                (*k, a, s.q) for k, r in state.records.items() for a, s in r.actions.items()}
        result = CliRunner().invoke(cli, ["diff", "--db", str(capacity), "--run", CAPACITY_RUN, "--at",
                                          str(differs - 1), "--against", str(end), "--json"])
        assert result.exit_code == 0, result.output
        printed = json.loads(result.output)
        mine = table_diff(recorder, CAPACITY_RUN, differs - 1, end)
        assert json.loads(json.dumps(mine.to_dict())) == {k: v for k, v in printed.items() if k not in "ab"}
        assert mine.records_removed  # evictions between the two
        series = plot_series(recorder, CAPACITY_RUN, points=30)
        for position, size in zip(series.positions, series.memory_size):
            assert size == len(own_replay(recorder, CAPACITY_RUN, upto=position).records)


# --------------------------------------------------------------------------- export


def test_export_writes_csv_and_json(tmp_path: Path) -> None:
    rows = [{"task": "t, with a comma", "q": 0.1 + 0.2, "rewards": [0.0, 1.0], "bootstrap": None},
            {"task": "second", "q": 1.0, "extra": "only here"}]
    write_rows(tmp_path / "a.json", rows)
    assert json.loads((tmp_path / "a.json").read_text()) == rows
    write_rows(tmp_path / "deep" / "a.csv", rows)
    with (tmp_path / "deep" / "a.csv").open(newline="") as handle:
        read = list(csv.DictReader(handle))
    assert list(read[0]) == ["task", "q", "rewards", "bootstrap", "extra"]
    assert read[0] == {"task": "t, with a comma", "q": repr(0.1 + 0.2), "rewards": "[0.0, 1.0]",
                       "bootstrap": "", "extra": ""}
    assert read[1]["extra"] == "only here"
    assert default_name("memory", "my run/1", "at", 12) == "memory-my_run_1-at-12.csv"


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(moves=st.lists(st.integers(0, 481), min_size=2, max_size=12), column=st.integers(0, 5),
       needle=st.sampled_from(["", "next", "B00000", "zzz"]))
def test_the_screen_keeps_the_order_of_the_records_through_moves(walk, moves, column, needle) -> None:
    """The memory screen's incremental order equals sorting the records afresh."""
    from rememberer_tui.screens.memory import COLUMNS, RecordOrder, matches

    scrubber, order = Scrubber(SYNTHETIC_RUN, refold_limit=50), RecordOrder(needle, column)
    for target in moves:
        memory = scrubber.move(walk, target)
        expected = sorted((r for r in memory.records if matches(r, needle.casefold())), key=COLUMNS[column][2])
        assert order.update(memory) == expected


def test_the_read_side_imports_no_textual() -> None:
    """audit, scrubber and export are plain functions over a recorder: no UI in them."""
    code = ("import sys, rememberer_tui.audit, rememberer_tui.scrubber, rememberer_tui.export; "
            "print(sorted(m for m in ('textual', 'openai') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
