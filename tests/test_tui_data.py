"""The TUI's read side without the UI: summaries, episode lists, steps, replayed Q-values."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rememberer_tui.data import (
    age,
    changes_since,
    episode_detail,
    memory_at,
    rl_brief,
    run_episodes,
    run_heads,
    run_names,
    run_stats,
    runs_summary,
)
from store.events import EpisodeEnded, EpisodeStarted, RLConfig, TransitionRecorded
from store.recorder import SQLiteRecorder, StreamBatch
from tests.conftest import FIXED_TIME, fixed_clock
from tests.test_projection import CAPACITY_RUN, capacity_db, first_difference, qtable_at
from tests.tui_fixtures import ACTIONS, SCREENS, TASK, add_offline_run, build_fixture_db


@pytest.fixture(scope="module")
def fixture_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_fixture_db(tmp_path_factory.mktemp("tui") / "memory.db")


@pytest.fixture
def recorder(fixture_db: Path):
    with SQLiteRecorder(fixture_db, create=False) as rec:
        yield rec


def test_runs_summary_has_setup_and_episode_figures(recorder) -> None:
    session, webshop = runs_summary(recorder)
    assert (session.run, session.environment, session.policy, session.llm) == (
        "session", "wikihow", "llm", "gpt-test")
    assert session.rl == RLConfig(gamma=0.9)
    # s-3 is still running: counted as an episode, not in the averages.
    assert (session.stats.episodes, session.stats.ended) == (3, 2)
    assert session.stats.average_reward == 1.0 and session.stats.success_rate == 1.0
    assert session.last_position == recorder.max_position()
    assert session.last_event_at == FIXED_TIME
    assert webshop.environment == "trace" and webshop.llm == ""
    # returns 0.5, 1, 1, 1, 0; successes: ep-2, ep-3, ep-4.
    assert (webshop.stats.episodes, webshop.stats.ended) == (5, 5)
    assert webshop.stats.average_reward == pytest.approx(0.7)
    assert webshop.stats.success_rate == pytest.approx(0.6)
    assert webshop.last_position == 31


def test_run_heads_come_without_stats_and_in_name_order(recorder) -> None:
    heads = run_heads(recorder)
    assert [h.run for h in heads] == recorder.runs() == ["session", "webshop"]
    assert all(h.stats is None for h in heads)


def test_run_episodes_lists_ended_and_running_episodes(recorder) -> None:
    rows = run_episodes(recorder, "session")
    assert [(r.episode, r.epoch, r.split, r.steps, r.total_return, r.success) for r in rows] == [
        ("s-1", 0, "train", 3, 1.0, True),
        ("s-2", 1, "train", 3, 1.0, True),
        ("s-3", 1, "test", 1, 0.0, None),
    ]
    assert rows[2].running and not rows[0].running
    webshop = run_episodes(recorder, "webshop")
    assert [r.episode for r in webshop] == ["ep-1", "ep-2", "ep-3", "ep-4", "ep-5"]
    assert webshop[0].task.startswith("i would like a 3 ounce bottle")
    assert [r.steps for r in webshop] == [3, 5, 4, 5, 3]
    assert run_episodes(recorder, "no-such-run") == []


def test_episode_detail_groups_events_into_steps(recorder) -> None:
    detail = episode_detail(recorder, "session/s-1")
    assert detail.run == "session" and detail.started.task == TASK and detail.ended.success
    assert [s.index for s in detail.steps] == [0, 1, 2]
    assert [s.transition.action for s in detail.steps] == ACTIONS
    assert [s.running_return for s in detail.steps] == [0.0, 0.0, 1.0]
    first = detail.steps[0]
    # The first step's retry: a failed exchange, then the answer.
    assert [e.error for e in first.exchanges] == ["rate limited (429)", ""]
    assert first.retrieved.observation == SCREENS[0]
    # The step starts with its ExperienceRetrieved; its moment is just before it.
    assert first.moment == first.position - 1
    assert recorder.read_stream("session/s-1")[1].position == first.position


def test_running_episode_has_no_end(recorder) -> None:
    detail = episode_detail(recorder, "session/s-3")
    assert detail.ended is None and len(detail.steps) == 1


def test_memory_at_gives_q_values_as_they_were_at_each_step(recorder) -> None:
    """gamma 0.9, mean updates. After s-1: Q(o2, next) = 1, Q(o1, click) = 0.9 * V(o2) seen
    before o2 had a record = 0. In s-2, step 1's transition averages in 0.9 * V(o2) = 0.9."""
    steps = episode_detail(recorder, "session/s-2").steps
    o1, o2 = (TASK, SCREENS[1]), (TASK, SCREENS[2])
    found = memory_at(recorder, "session", [(steps[2].moment, [o1, o2, (TASK, "unseen")]),
                                            (steps[1].moment, [o1, o2])])
    (q1,) = found[steps[1].moment][o1]
    assert (q1.action, q1.q, q1.visits) == (ACTIONS[1], 0.0, 1)
    (q1,) = found[steps[2].moment][o1]
    assert (q1.q, q1.visits) == (pytest.approx(0.45), 2)
    (q2,) = found[steps[2].moment][o2]
    assert (q2.action, q2.q, q2.visits) == (ACTIONS[2], 1.0, 1)
    assert found[steps[2].moment][(TASK, "unseen")] == ()


@pytest.mark.parametrize("run", ["session", "webshop"])
def test_folding_forward_equals_replaying_each_moment(recorder, run: str) -> None:
    """One replay then forward folds gives what a replay from scratch gives at each moment."""
    events = list(recorder.read(run=run))
    keys = sorted({(e.event.task, e.event.observation) for e in events
                   if e.type == "ExperienceRetrieved"} |
                  {(TASK, s) for s in SCREENS} |
                  {(ep.task, t.observation) for ep in run_episodes(recorder, run)
                   for step in episode_detail(recorder, ep.stream).steps
                   if (t := step.transition) is not None})
    moments = [e.position for e in events][::3]
    together = memory_at(recorder, run, [(m, keys) for m in moments])
    for moment in moments:
        assert together[moment] == memory_at(recorder, run, [(moment, keys)])[moment]


def test_replayed_q_values_match_what_the_live_agent_retrieved(tmp_path: Path) -> None:
    """An agent run records the Q-values its live memory held for each retrieved record;
    replaying the log to the step's moment must give exactly those."""
    db = add_offline_run(tmp_path / "offline.db")
    with SQLiteRecorder(db, create=False) as recorder:
        compared = 0
        for episode in run_episodes(recorder, "offline"):
            steps = [s for s in episode_detail(recorder, episode.stream).steps if s.retrieved]
            wanted = [(s.moment, [(r["task"], r["observation"]) for r in s.retrieved.records])
                      for s in steps]
            replayed = memory_at(recorder, "offline", wanted)
            for step in steps:
                for record in step.retrieved.records:
                    recorded = sorted((a["action"], a["q"], a["visits"]) for a in record["actions"])
                    key = (record["task"], record["observation"])
                    assert sorted((v.action, v.q, v.visits) for v in replayed[step.moment][key]) == recorded
                    compared += 1
        assert compared > 10


def test_an_item_capacity_run_is_replayed_with_its_own_evictions(tmp_path: Path) -> None:
    """Under item capacity the episode screen's Q-values are those the live agent retrieved
    and those `rememberer qtable --at` prints, not the default similarity's."""
    db = capacity_db(tmp_path / "cap.db")
    with SQLiteRecorder(db, create=False) as recorder:
        differs, end = first_difference(recorder), recorder.max_position()
        tables = {p: qtable_at(db, p) for p in (differs - 1, differs, end)}
        keys = sorted({(r["task"], r["observation"]) for rows in tables.values() for r in rows})
        for position, rows in tables.items():
            found = memory_at(recorder, CAPACITY_RUN, [(position, keys)])[position]
            assert sorted((*key, v.action, v.q, v.visits, v.mean_reward) for key in keys for v in found[key]) == \
                sorted(tuple(row.values()) for row in rows)
        compared = 0
        for episode in run_episodes(recorder, CAPACITY_RUN):
            steps = [s for s in episode_detail(recorder, episode.stream).steps if s.retrieved and s.moment > differs]
            replayed = memory_at(recorder, CAPACITY_RUN, [(s.moment, [(r["task"], r["observation"])
                                                                      for r in s.retrieved.records]) for s in steps])
            for step in steps:
                for record in step.retrieved.records:
                    recorded = sorted((a["action"], a["q"], a["visits"]) for a in record["actions"])
                    key = (record["task"], record["observation"])
                    assert sorted((v.action, v.q, v.visits) for v in replayed[step.moment][key]) == recorded
                    compared += 1
        assert compared > 10


def test_memory_at_stops_when_cancelled(recorder) -> None:
    calls = []
    found = memory_at(recorder, "session", [(40, []), (50, []), (55, [])],
                      cancelled=lambda: calls.append(1) or len(calls) > 2)
    assert sorted(found) == [40, 50]


def test_changes_since_names_the_runs_that_grew(tmp_path: Path) -> None:
    db = build_fixture_db(tmp_path / "m.db")
    with SQLiteRecorder(db, clock=fixed_clock) as recorder:
        last = recorder.max_position()
        assert changes_since(recorder, last) == (last, frozenset())
        recorder.append([EpisodeStarted("new", "t")], "webshop/new", 0)
        assert changes_since(recorder, last) == (last + 1, frozenset({"webshop"}))


def test_rl_brief_and_age() -> None:
    assert rl_brief(RLConfig()) == "γ=1 n=1 mean"
    assert rl_brief(RLConfig(update_mode="const", learning_rate=0.2, action_capacity=5,
                             double_q=True)) == "γ=1 n=1 const α=0.2 K=5 double-Q"
    then = datetime.fromisoformat(FIXED_TIME)
    assert age(FIXED_TIME, then + timedelta(seconds=42)) == "42s"
    assert age(FIXED_TIME, then + timedelta(hours=3, minutes=5)) == "3h"
    assert age(FIXED_TIME, then + timedelta(days=2)) == "2d"
    assert age("not a time", then) == ""


# Run names whose streams sort right next to each other's ('-', '.', '0' sit around '/').
run_names_strategy = st.lists(st.text(alphabet="ab-.0", min_size=1, max_size=3),
                              min_size=1, max_size=4, unique=True)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(names=run_names_strategy, sizes=st.lists(st.integers(0, 3), min_size=4, max_size=4))
def test_skip_scans_agree_with_a_plain_count(tmp_path_factory, names, sizes) -> None:
    db = tmp_path_factory.mktemp("scan") / "m.db"
    with SQLiteRecorder(db, clock=fixed_clock) as recorder:
        for name, episodes in zip(names, sizes):
            batches = [StreamBatch(name, [EpisodeStarted("marker", "run-level")], 0)]
            for n in range(episodes):
                events = [EpisodeStarted(f"e{n}", f"task {n}"),
                          TransitionRecorded(f"e{n}", 0, "o", "a", float(n), "o2", terminated=True)]
                if n % 2 == 0:
                    events.append(EpisodeEnded(f"e{n}", float(n), n > 0, steps=1))
                batches.append(StreamBatch(f"{name}/e{n}", events, 0))
            recorder.append_batches(batches)
        assert run_names(recorder) == sorted(names)
        for name, episodes in zip(names, sizes):
            stats = run_stats(recorder, name)
            ended = [n for n in range(episodes) if n % 2 == 0]
            assert (stats.episodes, stats.ended) == (episodes, len(ended))
            rows = run_episodes(recorder, name)
            assert [r.episode for r in rows] == [f"e{n}" for n in range(episodes)]
            assert [r.total_return for r in rows] == [float(n) for n in range(episodes)]
