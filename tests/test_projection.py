"""Replaying a run from the log: positions, what-if configs, the fast read path."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import attrs
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rememberer_tui.cli import cli
from replay import snapshots
from replay.fold import fold, initial_state, qtable_rows
from replay.projection import (
    ReplayError,
    ReplayStats,
    qtable_json,
    replay_run,
    resolve_run,
    run_config,
    run_similarity,
    snapshot_key,
)
from replay.similarity import TextSimilarity
from store.events import RLConfig, TransitionRecorded
from store.mapper import canonical_json
from store.recorder import SQLiteRecorder, chain_hash, row_header
from tests.conftest import FIXED_TIME
from tests.replay_runs import append_episode, open_db, random_runs, spec_example, start_run


def table(state) -> dict[tuple[str, str], tuple[float, int]]:
    return {(r["observation"], r["action"]): (r["q"], r["visits"]) for r in qtable_rows(state)}


def by_hand(recorder: SQLiteRecorder, run: str, upto: int, config: RLConfig):
    """The reference: the mapper's own read of the whole log, filtered and folded here."""
    events = [r for r in recorder.read() if r.run == run and r.position <= upto]
    return fold(events, initial_state(config))


def test_spec_worked_example_as_of_each_position(tmp_path: Path) -> None:
    recorder = spec_example(tmp_path / "spec.db")
    expected = {
        2: {},
        3: {("S", "a"): (0.0, 1)},
        5: {("S", "a"): (0.0, 1), ("R", "b"): (0.0, 1), ("J", "buy"): (0.375, 1)},
        8: {("S", "a"): (0.0, 2), ("R", "b"): (0.0, 1), ("J", "buy"): (0.375, 1)},
        9: {("S", "a"): (0.0, 2), ("R", "b"): (0.1875, 2), ("J", "buy"): (0.375, 1)},
        11: {("S", "a"): (0.0, 2), ("R", "b"): (0.1875, 2), ("J", "buy"): (0.375, 2)},
    }
    for position, values in expected.items():
        assert table(replay_run(recorder, "spec", upto=position)) == values, position
    assert table(replay_run(recorder, "spec")) == expected[11]


def test_what_if_gamma_changes_values_as_computed_by_hand(tmp_path: Path) -> None:
    recorder = spec_example(tmp_path / "spec.db")
    what_if = replay_run(recorder, "spec", config=RLConfig(gamma=0.5))
    # Episode 2: Q(R,b) = mean(0, 0 + 0.5 * V(J) = 0.5 * 0.375) = 0.09375; Q(S,a) reads
    # V(R) = 0 before R's update, so stays 0.
    assert table(what_if) == {("S", "a"): (0.0, 2), ("R", "b"): (0.09375, 2), ("J", "buy"): (0.375, 2)}
    assert what_if.config.gamma == 0.5
    # Const mode, alpha 0.5: episode 1 leaves Q(J,buy) = 0.5 * 0.375 = 0.1875, so episode 2
    # gives Q(R,b) = 0 + 0.5 * (V(J) - 0) = 0.09375 and Q(J,buy) = 0.1875 + 0.5 * 0.1875.
    const = replay_run(recorder, "spec", config=RLConfig(update_mode="const", learning_rate=0.5))
    assert table(const)[("R", "b")] == (0.09375, 2)
    assert table(const)[("J", "buy")] == (0.28125, 2)
    assert recorder.max_position() == 11  # what-if replays write nothing


def test_at_equals_folding_the_first_p_events_by_hand_with_runs_interleaved(tmp_path: Path) -> None:
    recorder = random_runs(tmp_path / "runs.db", seed=3, runs=("a", "b"), transitions=80)
    config = run_config(recorder, "a")
    last = recorder.max_position()
    assert {r.run for r in recorder.read(upto=40)} == {"a", "b"}  # the runs do interleave
    for position in (0, 1, 2, 7, 19, 40, last // 2, last - 3, last):
        state = replay_run(recorder, "a", upto=position)
        reference = by_hand(recorder, "a", position, config)
        assert state.to_json() == reference.to_json(), position
    # The open episode at the end contributed its first update only (n = 1, no end seen).
    assert table(replay_run(recorder, "a"))[("o1", "x")] == (1.0, 1)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 10_000), n_step=st.integers(1, 3), gamma=st.sampled_from([1.0, 0.9, 0.5]),
       mode=st.sampled_from(["mean", "const"]), double_q=st.booleans(), cut=st.floats(0, 1))
def test_what_if_with_the_runs_own_config_equals_plain_replay(tmp_path_factory, seed, n_step, gamma,
                                                              mode, double_q, cut) -> None:
    path = tmp_path_factory.mktemp("whatif") / "run.db"
    recorded = RLConfig(gamma=gamma, n_step=n_step, update_mode=mode, double_q=double_q)
    recorder = random_runs(path, seed, config=recorded, transitions=40)
    position = round(cut * recorder.max_position())
    plain = replay_run(recorder, "a", upto=position)
    # The same values given afresh, as a user would on the command line.
    again = RLConfig(**json.loads(canonical_json(recorded.to_dict())))
    what_if = replay_run(recorder, "a", upto=position, config=again)
    assert what_if.to_json() == plain.to_json()
    assert plain.to_json() == by_hand(recorder, "a", position, recorded).to_json()
    recorder.close()


def test_replay_reads_an_old_v1_row_through_the_upcaster(tmp_path: Path) -> None:
    recorder = spec_example(tmp_path / "spec.db")
    # A v1 TransitionRecorded (one `done` flag), written as an older rememberer did,
    # hash chain included.
    append_episode(recorder, "spec", "ep-3", "shop", [], end="open")
    position, prev = recorder.chain_head()
    payload = canonical_json({"episode": "ep-3", "step": 0, "observation": "J", "action": "buy",
                              "reward": 0.375, "next_observation": "end", "done": True, "reason": ""})
    header = row_header(position + 1, "spec/ep-3", 2, "TransitionRecorded", 1, "v1-event", FIXED_TIME)
    digest = chain_hash(prev, header, payload)
    recorder.conn.execute(
        "INSERT INTO events VALUES (?, 'spec/ep-3', 'spec', 2, 'v1-event', 'TransitionRecorded', 1, ?, ?, ?)",
        (position + 1, payload, FIXED_TIME, digest))
    recorder.conn.execute("UPDATE chain_head SET position = ?, hash = ?", (position + 1, digest))
    upcast = list(recorder.read(run="spec"))[-1].event
    assert isinstance(upcast, TransitionRecorded) and upcast.terminated and not upcast.truncated
    stats = ReplayStats()
    assert table(replay_run(recorder, "spec", stats=stats))[("J", "buy")] == (0.375, 3)
    assert stats.events_folded == 12  # RunStarted is not even read: the fold ignores it


def test_a_row_the_class_refuses_is_reported_by_the_mapper(tmp_path: Path) -> None:
    recorder = spec_example(tmp_path / "spec.db")
    position, prev = recorder.chain_head()
    payload = canonical_json({"episode": "x", "task": "t", "task_id": "", "split": "train", "epoch": 0,
                              "colour": "red"})
    header = row_header(position + 1, "spec/x", 1, "EpisodeStarted", 1, "odd", FIXED_TIME)
    recorder.conn.execute(
        "INSERT INTO events VALUES (?, 'spec/x', 'spec', 1, 'odd', 'EpisodeStarted', 1, ?, ?, ?)",
        (position + 1, payload, FIXED_TIME, chain_hash(prev, header, payload)))
    with pytest.raises(ValueError, match="unknown field.*colour"):
        replay_run(recorder, "spec")


def test_unknown_run_position_outside_the_log_and_the_default_run(tmp_path: Path) -> None:
    recorder = spec_example(tmp_path / "spec.db")
    assert resolve_run(recorder, None) == "spec"
    with pytest.raises(ReplayError, match="no run 'nope'; runs: spec"):
        replay_run(recorder, "nope")
    for bad in (12, -1):
        with pytest.raises(ReplayError, match=r"position .* outside the log \(positions 0 to 11\)"):
            replay_run(recorder, "spec", upto=bad)
    start_run(recorder, "other")
    with pytest.raises(ReplayError, match="give --run: runs: other, spec"):
        resolve_run(recorder, None)
    empty = open_db(tmp_path / "empty.db")
    with pytest.raises(ReplayError, match="holds no runs"):
        resolve_run(empty, None)


def test_qtable_json_is_the_spec_export(tmp_path: Path) -> None:
    recorder = open_db(tmp_path / "x.db")
    start_run(recorder, "r", RLConfig(gamma=0.9))
    append_episode(recorder, "r", "e1", "tâche", [("z", "a", 0.2, "end")])
    append_episode(recorder, "r", "e2", "tâche", [("é", "b", 0.1, "z"), ("Z", "c", 0.3, "end")])
    state = replay_run(recorder, "r")
    text = qtable_json(state)
    rows = json.loads(text)
    assert [list(row) for row in rows] == [["task", "observation", "action", "q", "visits", "mean_reward"]] * 3
    assert [row["observation"] for row in rows] == ["Z", "z", "é"]  # code-point order
    assert rows == qtable_rows(state)  # floats read back bit for bit
    # Q(é, b) = 0.1 + 0.9 * V(z) is 0.28; written as Python's shortest repr, nothing longer.
    assert '"q": 0.28,' in text and repr(0.1 + 0.9 * 0.2) == "0.28"
    assert text.splitlines()[0] == "[" and text.count("\n") == 4
    assert all(isinstance(row["visits"], int) for row in rows)
    assert qtable_json(initial_state(RLConfig())) == "[]"


def test_replay_is_read_only(tmp_path: Path) -> None:
    recorder = random_runs(tmp_path / "runs.db", seed=1)
    before = (recorder.chain_head(), recorder.max_position(),
              recorder.conn.execute("SELECT name FROM sqlite_master ORDER BY name").fetchall())
    replay_run(recorder, "a", config=attrs.evolve(run_config(recorder, "a"), gamma=0.3), upto=20)
    replay_run(recorder, "a")
    after = (recorder.chain_head(), recorder.max_position(),
             recorder.conn.execute("SELECT name FROM sqlite_master ORDER BY name").fetchall())
    assert after == before


# --------------------------------------------------------------------------- item capacity

CAPACITY_RUN = "cap"
CAPACITY_MATCHER = "fuzzy@task=0.5,webshop-page=0.5"  # no embedding model: quick


def capacity_db(path: Path) -> Path:
    """A real `rememberer run` under item capacity whose evictions, under its own matcher,
    differ from those of the fold's default text similarity (`first_difference`)."""
    result = CliRunner().invoke(cli, [
        "run", "--db", str(path), "--run", CAPACITY_RUN, "--llm", "offline", "--matcher", CAPACITY_MATCHER,
        "--item-capacity", "12", "--train-tasks", "0:6", "--test-tasks", "0:1", "--epochs", "1",
        "--seed", "1", "--max-steps", "8"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return path


def own_replay(recorder: SQLiteRecorder, run: str, **options):
    """`replay_run` evicting as the run did: what `rememberer qtable` prints."""
    similarity = run_similarity(recorder, run, options.get("config") or run_config(recorder, run))
    return replay_run(recorder, run, similarity=similarity, **options)


def first_difference(recorder: SQLiteRecorder) -> int:
    """The first position where the default similarity's table differs from the run's."""
    return next(p for p in range(recorder.max_position() + 1)
                if qtable_rows(replay_run(recorder, CAPACITY_RUN, upto=p, use_snapshots=False))
                != qtable_rows(own_replay(recorder, CAPACITY_RUN, upto=p, use_snapshots=False)))


def qtable_at(db: Path, position: int, *options: str) -> list[dict]:
    result = CliRunner().invoke(cli, ["qtable", "--db", str(db), "--run", CAPACITY_RUN, "--at", str(position),
                                      "--json", *options], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_qtable_of_an_item_capacity_run_evicts_with_the_runs_matcher(tmp_path: Path) -> None:
    db = capacity_db(tmp_path / "cap.db")
    with SQLiteRecorder(db) as recorder:
        differs = first_difference(recorder)
        end = recorder.max_position()
        assert 0 < differs < end
        for position in (differs - 1, differs, end):
            assert qtable_at(db, position) == qtable_rows(own_replay(recorder, CAPACITY_RUN, upto=position))
        assert qtable_at(db, end) != qtable_rows(replay_run(recorder, CAPACITY_RUN))


def test_snapshot_key_names_the_runs_matcher_only_under_item_capacity(tmp_path: Path) -> None:
    db = capacity_db(tmp_path / "cap.db")
    with SQLiteRecorder(db) as recorder:
        config = run_config(recorder, CAPACITY_RUN)
        similarity = run_similarity(recorder, CAPACITY_RUN, config)
        unlimited = attrs.evolve(config, item_capacity=None)
        assert run_similarity(recorder, CAPACITY_RUN, unlimited) is None
    # Without item capacity the key is what it always was: older snapshots stay valid.
    old = hashlib.sha256(canonical_json({"rl": unlimited.to_dict()}).encode()).hexdigest()
    assert snapshot_key(unlimited, None) == snapshot_key(unlimited, TextSimilarity()) == old
    # The run's own similarity is named by its matcher config; a what-if one cannot be.
    assert similarity.matcher == {"task": "fuzzy", "observation": "webshop-page", "task_weight": 0.5}
    identity = {"rl": config.to_dict(), "matcher": similarity.matcher}
    assert snapshot_key(config, similarity) == hashlib.sha256(canonical_json(identity).encode()).hexdigest()
    assert snapshots.config_identity(config, similarity.matcher) == canonical_json(identity)
    assert snapshot_key(config, similarity) != snapshot_key(config, None)
    assert snapshot_key(config, TextSimilarity()) is None


def test_a_replay_reports_its_progress_and_folds_the_same(tmp_path: Path, monkeypatch) -> None:
    recorder = random_runs(tmp_path / "runs.db", seed=5, runs=("a", "b"), transitions=80)
    monkeypatch.setattr("replay.projection.PROGRESS_EVERY", 7)
    for upto in (None, 50):
        reached: list[int] = []
        stats = ReplayStats()
        state = replay_run(recorder, "a", upto=upto, stats=stats, progress=reached.append)
        assert state.to_json() == replay_run(recorder, "a", upto=upto).to_json()
        assert reached == sorted(reached) and len(reached) == stats.events_folded // 7 + 1
        assert reached[-1] == max(p for p, _ in recorder.read_events(run="a", upto=upto))
