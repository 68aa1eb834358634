"""Snapshots: a replay from one equals a replay from scratch; damaged or foreign ones are
never trusted; they are not events, and dropping them changes nothing but speed."""

from __future__ import annotations

import json
import zlib
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rememberer_tui.cli import cli
from replay import snapshots
from replay.fold import qtable_rows
from replay.projection import (
    ReplayError,
    ReplayStats,
    replay_run,
    run_config,
    run_similarity,
    write_snapshots,
)
from replay.similarity import TextSimilarity
from store.events import RLConfig
from store.recorder import SQLiteRecorder
from store.verify import verify
from tests.conftest import fixed_clock
from tests.replay_runs import append_episode, random_runs, spec_example
from tests.test_projection import CAPACITY_RUN, capacity_db, first_difference, qtable_at

CONFIGS = st.builds(
    RLConfig,
    gamma=st.sampled_from([1.0, 0.8]),
    n_step=st.integers(1, 3),
    update_mode=st.sampled_from(["mean", "const"]),
    action_capacity=st.sampled_from([None, 2]),
    item_capacity=st.sampled_from([None, 4]),
    double_q=st.booleans(),
)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 10_000), config=CONFIGS, every=st.integers(1, 30),
       cuts=st.lists(st.floats(0, 1), min_size=1, max_size=6))
def test_replay_from_a_snapshot_equals_replay_from_scratch(tmp_path_factory, seed, config, every,
                                                           cuts) -> None:
    recorder = random_runs(tmp_path_factory.mktemp("snap") / "run.db", seed, runs=("a", "b"),
                           transitions=40, config=config)
    saved = write_snapshots(recorder, "a", every=every)
    assert saved and saved == sorted(saved)
    similarity = run_similarity(recorder, "a", config)  # under item capacity, the run's matcher
    for cut in cuts:
        position = round(cut * recorder.max_position())
        stats = ReplayStats()
        from_snapshot = replay_run(recorder, "a", upto=position, stats=stats, similarity=similarity)
        scratch = replay_run(recorder, "a", upto=position, use_snapshots=False, similarity=similarity)
        assert from_snapshot.to_json() == scratch.to_json()
        usable = [p for p in saved if p <= position]
        assert stats.snapshot_position == (usable[-1] if usable else None)
    recorder.close()


def count_events(recorder, run: str, after: int, upto: int) -> int:
    return recorder.conn.execute("SELECT count(*) FROM events WHERE run = ? AND position > ? AND position <= ?",
                                 (run, after, upto)).fetchone()[0]


def test_replay_after_a_snapshot_folds_only_the_remainder(tmp_path: Path) -> None:
    recorder = random_runs(tmp_path / "run.db", seed=5, transitions=120)
    saved = write_snapshots(recorder, "a", every=50)
    assert saved[:2] == [50, 100]  # one run: its 50th event sits at position 50
    stats = ReplayStats()
    replay_run(recorder, "a", upto=130, stats=stats)
    assert stats.snapshot_position == 100
    assert stats.events_folded == count_events(recorder, "a", 100, 130) == 30
    scratch = ReplayStats()
    replay_run(recorder, "a", upto=130, use_snapshots=False, stats=scratch)
    assert scratch.snapshot_position is None and scratch.events_folded == 129  # all but RunStarted


def test_a_stop_request_returns_exactly_the_snapshots_stored(tmp_path: Path, monkeypatch) -> None:
    recorder = random_runs(tmp_path / "run.db", seed=5, transitions=120)
    asked = []

    def stop() -> bool:  # yes once two snapshots are stored
        asked.append(len(snapshots.listing(recorder, "a")))
        return asked[-1] == 2

    assert write_snapshots(recorder, "a", every=50, stop=stop) == [50, 100]
    assert [s.position for s in snapshots.listing(recorder, "a")] == [50, 100]
    # Inside a stretch too: asked every PROGRESS_EVERY events, the stretch under way is dropped.
    snapshots.drop(recorder, "a")
    monkeypatch.setattr("replay.projection.PROGRESS_EVERY", 7)
    folded = []
    assert write_snapshots(recorder, "a", every=50, progress=folded.append, stop=lambda: len(folded) == 3) == []
    assert folded == [7, 14, 21] and snapshots.listing(recorder, "a") == []


def test_a_damaged_snapshot_is_ignored_and_reported(tmp_path: Path) -> None:
    recorder = random_runs(tmp_path / "run.db", seed=2, transitions=100)
    write_snapshots(recorder, "a", every=30)
    expected = replay_run(recorder, "a", upto=100, use_snapshots=False).to_json()
    conn = recorder.conn
    # Content that no longer matches its hash (a valid state, only another one) ...
    other = zlib.compress(replay_run(recorder, "a", upto=10, use_snapshots=False).to_json().encode())
    conn.execute("UPDATE snapshots SET state = ? WHERE position = 90", (other,))
    # ... and a blob that is not even zlib.
    conn.execute("UPDATE snapshots SET state = X'00ff' WHERE position = 60")
    reports: list[str] = []
    stats = ReplayStats()
    state = replay_run(recorder, "a", upto=100, report=reports.append, stats=stats)
    assert state.to_json() == expected
    assert stats.snapshot_position == 30
    assert len(reports) == 2 and "position 90" in reports[0] and "position 60" in reports[1]
    assert all("damaged" in message and "ignored" in message for message in reports)
    # A changed stored hash is caught the same way.
    conn.execute("UPDATE snapshots SET content_hash = ? WHERE position = 30", ("0" * 64,))
    reports.clear()
    assert replay_run(recorder, "a", upto=100, report=reports.append, stats=stats).to_json() == expected
    assert len(reports) == 3 and "position 30" in reports[2]


def test_a_snapshot_edited_with_its_hash_recomputed_is_not_trusted(tmp_path: Path) -> None:
    recorder = random_runs(tmp_path / "run.db", seed=2, transitions=100)
    write_snapshots(recorder, "a", every=30)
    expected = replay_run(recorder, "a", upto=100, use_snapshots=False).to_json()

    def forge(position: int, text: str) -> None:
        recorder.conn.execute("UPDATE snapshots SET state = ?, content_hash = ? WHERE position = ?",
                              (zlib.compress(text.encode()), snapshots.content_hash(text), position))

    # The state of position 10 filed at 90 (it would refold 11..90 on top: "started again");
    # JSON that is no state at 60; a list at 30.
    forge(90, replay_run(recorder, "a", upto=10, use_snapshots=False).to_json())
    forge(60, json.dumps({"position": 60}))
    forge(30, "[1, 2]")
    reports: list[str] = []
    stats = ReplayStats()
    assert replay_run(recorder, "a", upto=100, report=reports.append, stats=stats).to_json() == expected
    assert stats.snapshot_position is None
    assert reports == [
        "snapshot of run 'a' at position 90 is unusable (it holds the state of another position or config): ignored",
        "snapshot of run 'a' at position 60 is unusable (its content is not a fold state (KeyError)): ignored",
        "snapshot of run 'a' at position 30 is unusable (its content is not a fold state (TypeError)): ignored",
    ]


def test_a_snapshot_of_another_config_or_fold_version_is_not_used(tmp_path: Path) -> None:
    recorder = spec_example(tmp_path / "spec.db")
    what_if = RLConfig(gamma=0.5)
    write_snapshots(recorder, "spec", every=4, config=what_if)
    own = ReplayStats()
    state = replay_run(recorder, "spec", stats=own)
    assert own.snapshot_position is None
    assert state.to_json() == replay_run(recorder, "spec", use_snapshots=False).to_json()
    used = ReplayStats()
    replay_run(recorder, "spec", config=what_if, stats=used)
    assert used.snapshot_position == 11
    recorder.conn.execute("UPDATE snapshots SET fold_version = ?", (snapshots.FOLD_VERSION - 1,))
    later, reports = ReplayStats(), []
    replay_run(recorder, "spec", config=what_if, stats=later, report=reports.append)
    assert later.snapshot_position is None and later.events_folded == 10
    # ... and the user learns why replay starts from scratch, and what to do.
    assert reports == ["3 snapshot(s) of run 'spec' were written by another version of the fold and "
                       "are not used: run `rememberer snapshot --run spec` to write them again"]


def test_snapshots_are_not_events_and_are_disposable(tmp_path: Path) -> None:
    recorder = random_runs(tmp_path / "run.db", seed=4, transitions=60)
    head, events = recorder.chain_head(), recorder.max_position()
    expected = replay_run(recorder, "a").to_json()
    assert write_snapshots(recorder, "a", every=20)
    assert recorder.chain_head() == head and recorder.max_position() == events
    assert verify(recorder).ok
    assert snapshots.drop(recorder) > 0 and snapshots.listing(recorder) == []
    assert replay_run(recorder, "a").to_json() == expected
    # Dropping the whole table by hand is fine too; writing recreates it.
    recorder.conn.execute("DROP TABLE snapshots")
    assert snapshots.listing(recorder) == [] and snapshots.drop(recorder) == 0
    assert replay_run(recorder, "a").to_json() == expected
    saved = write_snapshots(recorder, "a", every=1000)
    assert saved == [events]  # none on the way, one at the end
    assert [s.position for s in snapshots.listing(recorder, "a")] == saved
    assert verify(recorder).ok


def test_every_must_be_positive_and_keys_are_distinct(tmp_path: Path) -> None:
    recorder = spec_example(tmp_path / "spec.db")
    with pytest.raises(ReplayError, match="--every must be at least 1"):
        write_snapshots(recorder, "spec", every=0)
    assert snapshots.config_hash(RLConfig()) != snapshots.config_hash(RLConfig(gamma=0.99))
    assert snapshots.config_hash(RLConfig(n_step=2)) == snapshots.config_hash(RLConfig(n_step=2))
    write_snapshots(recorder, "spec", every=5)
    write_snapshots(recorder, "spec", every=5)  # rewriting replaces, never duplicates
    rows = snapshots.listing(recorder, "spec")
    assert [s.position for s in rows] == [5, 10, 11]
    assert all(s.content_hash and s.records >= 1 and s.fold_version == snapshots.FOLD_VERSION for s in rows)


def test_a_snapshot_folded_from_another_log_is_not_used(tmp_path: Path) -> None:
    """Same run name, same events, other event ids: another chain, so another log."""
    first, second = spec_example(tmp_path / "one.db"), spec_example(tmp_path / "two.db")
    write_snapshots(first, "spec", every=4)
    snapshots.ensure_table(second)
    second.conn.execute("ATTACH DATABASE ? AS one", (str(tmp_path / "one.db"),))
    second.conn.execute("INSERT INTO snapshots SELECT * FROM one.snapshots")
    second.conn.execute("DETACH DATABASE one")
    reports: list[str] = []
    stats = ReplayStats()
    state = replay_run(second, "spec", report=reports.append, stats=stats)
    assert stats.snapshot_position is None and stats.events_folded == 10
    assert state.to_json() == replay_run(second, "spec", use_snapshots=False).to_json()
    assert reports == [f"snapshot of run 'spec' at position {p} is damaged (the log holds another event "
                       "at that position): ignored" for p in (11, 8, 4)]
    used = ReplayStats()
    replay_run(first, "spec", stats=used)
    assert used.snapshot_position == 11 and used.events_folded == 0


def test_writing_snapshots_does_not_hold_the_write_lock(tmp_path: Path) -> None:
    """A live session appends while snapshots are written: between two snapshots the
    writer gets the lock at once. The snapshots cover the log as it was when writing
    began (what a helper process reading it sees); later events are for the next replay."""
    recorder = spec_example(tmp_path / "spec.db")
    writer = SQLiteRecorder(tmp_path / "spec.db", busy_timeout=0.2, clock=fixed_clock)
    appended: list[int] = []

    def progress(done: int) -> None:
        if not appended:
            append_episode(writer, "spec", "live", "shop", [("S", "a", 1.0, "R")])
            appended.append(writer.max_position())

    saved = write_snapshots(recorder, "spec", every=4, progress=progress)
    assert appended == [14] and saved == [4, 8, 11]
    last = snapshots.latest(recorder, "spec", snapshots.config_hash(RLConfig()), None)
    assert last.position == 11
    assert last.state_json == replay_run(recorder, "spec", upto=11, use_snapshots=False).to_json()
    stats = ReplayStats()
    assert (replay_run(recorder, "spec", stats=stats).to_json()
            == replay_run(recorder, "spec", use_snapshots=False).to_json())
    assert (stats.snapshot_position, stats.events_folded) == (11, 3)


def test_snapshots_of_an_item_capacity_run_fold_with_its_matcher_and_are_used(tmp_path: Path) -> None:
    """`rememberer snapshot` folds with the run's own similarity and files the states under
    its matcher too: replay with that similarity starts from them and gives the same
    table; a replay with another similarity never does."""
    db = capacity_db(tmp_path / "cap.db")
    result = CliRunner().invoke(cli, ["snapshot", "--db", str(db), "--run", CAPACITY_RUN, "--every", "40"],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    with SQLiteRecorder(db) as recorder:
        saved = [s.position for s in snapshots.listing(recorder, CAPACITY_RUN)]
        config = run_config(recorder, CAPACITY_RUN)
        similarity = run_similarity(recorder, CAPACITY_RUN, config)
        assert len(saved) > 2 and all(json.loads(s.config) == {"rl": config.to_dict(), "matcher": similarity.matcher}
                                      for s in snapshots.listing(recorder))
        differs, end = first_difference(recorder), recorder.max_position()
        for position in sorted({differs, saved[1] + 1, end}):
            stats = ReplayStats()
            state = replay_run(recorder, CAPACITY_RUN, upto=position, similarity=similarity, stats=stats)
            assert stats.snapshot_position == max(p for p in saved if p <= position)
            scratch = replay_run(recorder, CAPACITY_RUN, upto=position, similarity=similarity, use_snapshots=False)
            assert state.to_json() == scratch.to_json()
            assert qtable_at(db, position) == qtable_at(db, position, "--no-snapshots") == qtable_rows(state)
        for other in (None, TextSimilarity()):  # the default, and a what-if we cannot name
            stats = ReplayStats()
            replay_run(recorder, CAPACITY_RUN, similarity=other, stats=stats)
            assert stats.snapshot_position is None and stats.events_folded > 0
