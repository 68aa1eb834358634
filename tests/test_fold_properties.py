"""Fold invariants over random runs and configs (hypothesis)."""

from __future__ import annotations

import json

import attrs
from hypothesis import given, settings
from hypothesis import strategies as st

from replay.fold import FoldState, fold, initial_state, trail_for
from replay.trail import replay_trail
from store.events import PoolAction, PoolRecord, RLConfig
from tests.fold_log import Log, draw_run, state_parts

TASKS = ["t1", "t2"]
OBSERVATIONS = ["A", "B", "C", "D"]
ACTIONS = ["x", "y", "z"]
REWARDS = [0.0, 0.1, 1.0, -0.5, 0.375, 2.0]
ENDINGS = ["terminated", "truncated", "open", "ended"]

configs = st.builds(
    RLConfig,
    gamma=st.sampled_from([1.0, 0.9, 0.5, 0.0]),
    n_step=st.integers(1, 3),
    update_mode=st.sampled_from(["mean", "const"]),
    learning_rate=st.sampled_from([0.1, 0.5, 1.0]),
    action_capacity=st.none() | st.integers(1, 3),
    item_capacity=st.none() | st.integers(1, 4),
    double_q=st.booleans(),
)


@st.composite
def runs(draw) -> Log:
    """Episodes interleaved at random, with pool imports and forgotten records between."""
    return draw_run(draw, tasks=TASKS, observations=OBSERVATIONS, actions=ACTIONS, rewards=REWARDS,
                    endings=ENDINGS, max_length=5, side_event=_side_event)


def _side_event(draw, log: Log) -> None:
    if draw(st.booleans()):
        log.forget(draw(st.sampled_from(TASKS)), draw(st.sampled_from(OBSERVATIONS)))
        return
    records = []
    for task, observation in draw(st.lists(st.tuples(st.sampled_from(TASKS), st.sampled_from(OBSERVATIONS)),
                                           min_size=1, max_size=3, unique=True)):
        actions = [PoolAction(action=a, q=draw(st.sampled_from(REWARDS)), visits=draw(st.integers(0, 3)),
                              mean_reward=draw(st.sampled_from(REWARDS)))
                   for a in draw(st.lists(st.sampled_from(ACTIONS), max_size=3, unique=True))]
        records.append(PoolRecord(task=task, observation=observation, actions=actions,
                                  visits=draw(st.integers(0, 3))))
    log.pool(records)


PROPERTY = settings(max_examples=60, deadline=None)


@PROPERTY
@given(configs, runs(), st.data())
def test_a_prefix_then_the_rest_equals_everything(config, log, data) -> None:
    whole = fold(log.events, initial_state(config)).to_json()
    cut = data.draw(st.integers(0, len(log.events)))
    state = fold(log.events[:cut], initial_state(config))
    assert fold(log.events[cut:], state).to_json() == whole
    # ... also across a snapshot: from_json(to_json()) is the same state and continues identically.
    prefix = fold(log.events[:cut], initial_state(config))
    restored = FoldState.from_json(prefix.to_json())
    assert state_parts(restored) == state_parts(prefix)
    assert fold(log.events[cut:], restored).to_json() == whole


@PROPERTY
@given(configs, runs())
def test_replaying_twice_gives_the_same_bytes(config, log) -> None:
    first = fold(log.events, initial_state(config, trail=True)).to_json()
    assert fold(log.events, initial_state(config, trail=True)).to_json() == first


@PROPERTY
@given(configs, runs())
def test_the_trail_reproduces_every_q(config, log) -> None:
    state = fold(log.events, initial_state(config, trail=True))
    for (task, observation), record in state.records.items():
        for action, stats in record.actions.items():
            trail = trail_for(state, (task, observation), action)
            assert replay_trail(trail, config) == stats.q
            last: dict[int, float] = {}
            for entry in trail:
                assert entry.recomputed_target() == entry.target
                if entry.kind == "update":
                    assert entry.old_q == last.get(entry.table, 0.0)
                last[entry.table] = entry.new_q


plain_configs = st.builds(
    RLConfig,
    gamma=st.sampled_from([1.0, 0.9, 0.5, 0.0]),
    update_mode=st.sampled_from(["mean", "const"]),
    learning_rate=st.sampled_from([0.1, 0.5, 1.0]),
)


@PROPERTY
@given(plain_configs, runs())
def test_the_hot_path_and_the_general_path_agree(config, log) -> None:
    """Without a trail, n = 1 and no capacities nor double Q take a written-out fast path;
    a trail forces the general one."""
    plain = json.loads(fold(log.events, initial_state(config)).to_json())
    general = json.loads(fold(log.events, initial_state(config, trail=True)).to_json())
    for part in ("records", "strings", "tables", "episodes", "facts", "seq", "occurrences", "index"):
        assert plain[part] == general[part], part


@PROPERTY
@given(configs, runs())
def test_capacities_hold_and_positions_may_have_gaps(config, log) -> None:
    spread = [attrs.evolve(r, position=3 * r.position + 7) for r in log.events]
    state = fold(spread, initial_state(config))
    assert state.position == (spread[-1].position if spread else 0)
    if config.item_capacity is not None:
        assert len(state.records) <= config.item_capacity
    if config.action_capacity is not None:
        assert all(len(r.actions) <= config.action_capacity for r in state.records.values())
    unspread = fold(log.events, initial_state(config))
    assert [r.visits for r in state.records.values()] == [r.visits for r in unspread.records.values()]
