"""Test-split episodes use the memory frozen: the fold records nothing from them, live or replayed."""

from __future__ import annotations

from replay.fold import fold, initial_state, qtable_rows
from store.events import EpisodeStarted, RLConfig
from tests.fold_log import Log


def test_a_test_episode_changes_nothing_and_a_train_one_after_it_learns() -> None:
    log = Log()
    log.start_run()
    log.add(EpisodeStarted, "t1", episode="t1", task="shop", split="test")
    log.steps["t1"] = 0
    log.step("t1", "S", "a", 0.0, "R")
    log.step("t1", "R", "buy", 1.0, "end", terminated=True)
    log.end("t1", 1.0, True)
    state = fold(log.events, initial_state(RLConfig()))
    assert state.records == {} and not state.frozen and not state.episodes
    frozen_json = state.to_json()

    log.start("e1", "shop")
    log.step("e1", "S", "a", 0.0, "R")
    log.step("e1", "R", "buy", 1.0, "end", terminated=True)
    state = fold(log.events[len(log.events) - 3:], state)
    assert [(r["observation"], r["action"], r["q"]) for r in qtable_rows(state)] == [
        ("R", "buy", 1.0), ("S", "a", 0.0)]
    assert frozen_json != state.to_json()


def test_an_open_test_episode_survives_a_snapshot() -> None:
    log = Log()
    log.add(EpisodeStarted, "t1", episode="t1", task="shop", split="test")
    log.steps["t1"] = 0
    state = fold(log.events, initial_state(RLConfig()))
    restored = type(state).from_json(state.to_json())
    assert restored.frozen == {"t1"}
    log.step("t1", "S", "a", 1.0, "end", terminated=True)
    assert fold(log.events[-1:], restored).records == {}
