"""One regression test per defect of the reference implementation (OpenDFM/Rememberer,
history.py) that SPEC section 3 says the fold must not copy."""

from __future__ import annotations

import numpy as np

from replay.fold import fold, initial_state
from replay.similarity import TextSimilarity
from replay.state import Record
from store.events import RLConfig
from tests.fold_log import Log


def test_the_last_n_occurrences_credit_their_own_reward_to_the_mean() -> None:
    # The reference's end-of-episode flush credits r_{t-1} to occurrence t's mean reward.
    log = Log()
    log.episode("e1", "T", [("A", "a", 1.0, "B"), ("B", "b", 2.0, "C"), ("C", "c", 4.0, "end")])
    state = fold(log.events, initial_state(RLConfig(n_step=2)))
    means = {obs: next(iter(state.records[("T", obs)].actions.values())).mean_reward for obs in "ABC"}
    assert means == {"A": 1.0, "B": 2.0, "C": 4.0}


def test_rewards_are_not_rounded_to_float32() -> None:
    log = Log()
    log.episode("e1", "T", [("A", "a", 0.1, "B"), ("B", "b", 0.1, "end")])
    state = fold(log.events, initial_state(RLConfig(gamma=0.9, n_step=2)))
    q = state.records[("T", "A")].actions["a"].q
    assert q == 0.1 + 0.9 * 0.1
    r32 = float(np.float32(0.1))
    assert q != r32 + 0.9 * r32  # what float32 rewards inside the return would give
    assert state.records[("T", "B")].actions["b"].mean_reward == 0.1


class Identical:
    """Everything is perfectly similar: tempting to bootstrap from, if one were careless."""

    def pair(self, a: Record, b: Record) -> float:
        return 1.0


def test_an_unrecorded_state_bootstraps_zero_not_a_similar_records_value() -> None:
    log = Log()
    log.episode("e1", "T", [("room 1", "go", 1.0, "end")])      # V(room 1) = 1
    log.episode("e2", "T", [("hall", "a", 0.0, "room 2"), ("room 2", "go", 1.0, "end")])
    for config in (RLConfig(), RLConfig(item_capacity=10)):
        state = fold(log.events, initial_state(config, similarity=Identical()))
        # room 2 had no record when Q(hall, a) was updated: V = 0, whatever looks like it.
        assert state.records[("T", "hall")].actions["a"].q == 0.0


def test_the_double_q_merge_reads_both_tables() -> None:
    # The reference merges table 1 with itself. One update lands in each table here.
    log = Log()
    log.episode("e1", "T", [("S", "a", 1.0, "end")])
    log.episode("e2", "T", [("S", "a", 0.5, "end")])
    state = fold(log.events, initial_state(RLConfig(double_q=True)))
    t0, t1 = (table[("T", "S")]["a"] for table in state.tables)
    assert (t0.q, t1.q) == (1.0, 0.5)
    merged = state.records[("T", "S")].actions["a"]
    assert (merged.q, merged.visits, merged.mean_reward) == (0.75, 2, 0.75)


def test_eviction_uses_real_similarities() -> None:
    # The reference never fills its similarity matrix: every pair looks 0 apart, so a full
    # memory always refuses the new record. Here the closest pair (two near-identical
    # kitchens) loses a member, not the unrelated garden, though the garden is the oldest.
    observations = ["garden path", "kitchen with a red door", "kitchen with a red door!"]
    text = TextSimilarity()
    records = [Record("find the key", o) for o in observations]
    kitchens = text.pair(records[1], records[2])
    assert kitchens > text.pair(records[0], records[1]) and kitchens > text.pair(records[0], records[2])
    log = Log()
    for i, observation in enumerate(observations):
        log.episode(f"e{i}", "find the key", [(observation, "look", 0.0, "end")])
    log.episode("again", "find the key", [("kitchen with a red door!", "open", 1.0, "end")])
    log.episode("new", "find the key", [("attic", "look", 0.0, "end")])
    state = fold(log.events, initial_state(RLConfig(item_capacity=3)))
    assert set(o for _, o in state.records) == {"garden path", "kitchen with a red door", "attic"}
    evicted = state.facts[-1]
    assert (evicted.kind, evicted.observation, evicted.similarity) == (
        "evicted", "kitchen with a red door!", kitchens)
