"""The RLEM fold on hand-computed cases (SPEC section 3)."""

from __future__ import annotations

import pytest

from replay.fold import FoldError, FoldState, apply, fold, initial_state, qtable_rows, trail_for
from replay.state import ActionStats
from replay.trail import Eviction, Pruning, replay_trail
from store.events import EpisodeStarted, PoolAction, PoolRecord, RLConfig
from tests.fold_log import Log, state_parts


def run(log: Log, config: RLConfig | None = None, **kwargs) -> FoldState:
    return fold(log.events, initial_state(config or RLConfig(), **kwargs))


def stats(state: FoldState, task: str, observation: str, action: str) -> ActionStats:
    return state.records[(task, observation)].actions[action]


def qvn(state: FoldState, task: str, observation: str, action: str) -> tuple[float, int, float]:
    s = stats(state, task, observation, action)
    return s.q, s.visits, s.mean_reward


WORKED = [("S", "a", 0.0, "R"), ("R", "b", 0.0, "J"), ("J", "buy", 0.375, "end")]


def test_worked_example_of_spec_section_3() -> None:
    log = Log()
    log.start_run()
    log.episode("e1", "T", WORKED)
    state = run(log)
    # R was unrecorded when Q(S, a) was updated, J when Q(R, b) was: both bootstrap 0.
    assert qvn(state, "T", "S", "a") == (0.0, 1, 0.0)
    assert qvn(state, "T", "R", "b") == (0.0, 1, 0.0)
    assert qvn(state, "T", "J", "buy") == (0.375, 1, 0.375)
    log.episode("e2", "T", WORKED)
    state = run(log)
    assert qvn(state, "T", "S", "a") == (0.0, 2, 0.0)
    assert qvn(state, "T", "R", "b") == (0.1875, 2, 0.0)
    assert qvn(state, "T", "J", "buy") == (0.375, 2, 0.375)
    assert [r["q"] for r in qtable_rows(state)] == [0.375, 0.1875, 0.0]
    assert state.position == len(log.events) and state.episodes == {}


def test_const_mode_moves_by_the_learning_rate() -> None:
    log = Log()
    log.episode("e1", "T", WORKED)
    log.episode("e2", "T", WORKED)
    state = run(log, RLConfig(update_mode="const", learning_rate=0.5))
    # Episode 1: Q(J, buy) = 0.5 * 0.375. Episode 2: Q(R, b) = 0.5 * (0 + V(J) = 0.1875),
    # Q(J, buy) = 0.1875 + 0.5 * (0.375 - 0.1875); the mean reward moves the same way.
    assert qvn(state, "T", "S", "a") == (0.0, 2, 0.0)
    assert qvn(state, "T", "R", "b") == (0.09375, 2, 0.0)
    assert qvn(state, "T", "J", "buy") == (0.28125, 2, 0.28125)


def test_gamma_below_one_discounts_the_bootstrap() -> None:
    log = Log()
    for episode in ("e1", "e2"):
        log.episode(episode, "T", [("S", "a", 1.0, "R"), ("R", "b", 2.0, "end")])
    state = run(log, RLConfig(gamma=0.5))
    # e1: Q(S,a) = 1 + 0.5 * V(R)=0 = 1. e2: target 1 + 0.5 * 2 = 2, mean(1, 2) = 1.5.
    assert qvn(state, "T", "S", "a") == (1.5, 2, 1.0)
    assert qvn(state, "T", "R", "b") == (2.0, 2, 2.0)


def test_n_step_3_with_an_episode_shorter_than_n() -> None:
    log = Log()
    log.start("e1", "T")
    log.step("e1", "S", "a", 1.0, "R")
    state = run(log, RLConfig(gamma=0.5, n_step=3))
    assert state.records == {}  # o_3 has not arrived and the episode goes on
    log.step("e1", "R", "b", 2.0, "end", terminated=True)
    state = run(log, RLConfig(gamma=0.5, n_step=3))
    # T = 2 < n: both occurrences get truncated returns, oldest first.
    assert qvn(state, "T", "S", "a") == (2.0, 1, 1.0)  # 1 + 0.5 * 2
    assert qvn(state, "T", "R", "b") == (2.0, 1, 2.0)


def test_n_step_2_bootstraps_from_o_t_plus_n_as_it_is_then() -> None:
    steps = [("A", "x", 1.0, "B"), ("B", "y", 2.0, "C"), ("C", "z", 4.0, "end")]
    log = Log()
    log.episode("e1", "T", steps)
    log.episode("e2", "T", steps)
    state = run(log, RLConfig(gamma=0.5, n_step=2), trail=True)
    # e1: G(A) = 1 + 0.5*2 + 0.25*V(C)=0 = 2; tail: G(B) = 2 + 0.5*4 = 4, G(C) = 4.
    # e2: G(A) = 1 + 1 + 0.25*V(C)=4 = 3, so Q(A, x) = mean(2, 3) = 2.5.
    assert qvn(state, "T", "A", "x") == (2.5, 2, 1.0)
    assert qvn(state, "T", "B", "y") == (4.0, 2, 2.0)
    assert qvn(state, "T", "C", "z") == (4.0, 2, 4.0)
    entry = trail_for(state, ("T", "A"), "x")[1]
    second_episode = [r.position for r in log.events if getattr(r.event, "episode", "") == "e2"]
    assert (entry.occurrence, entry.position) == (second_episode[1], second_episode[2])
    assert (entry.rewards, entry.discount, entry.bootstrap, entry.bootstrap_from) == (
        (1.0, 2.0), 0.25, 4.0, ("T", "C"))
    assert (entry.target, entry.old_q, entry.new_q, entry.visits) == (3.0, 2.0, 2.5, 2)


def test_a_loop_inside_an_episode() -> None:
    steps = [("S", "a", 0.25, "S"), ("S", "b", 1.0, "end")]
    log = Log()
    log.episode("e1", "T", steps)
    log.episode("e2", "T", steps)
    state = run(log)
    # e1: Q(S,a) = 0.25 + V(S)=0 (no record yet). e2: 0.25 + V(S) = max(0.25, 1) -> 1.25.
    assert qvn(state, "T", "S", "a") == (0.75, 2, 0.25)
    assert qvn(state, "T", "S", "b") == (1.0, 2, 1.0)
    record = state.records[("T", "S")]
    assert record.visits == 4
    # The latest visit (step 1 of e2): reached after action a, r_{t-1} = 0.25, sum = 0.25.
    assert (record.action_history, record.last_reward, record.total_reward) == ((("a", ""),), 0.25, 0.25)


def test_record_keeps_how_its_latest_visit_got_there() -> None:
    log = Log()
    log.start("e1", "T")
    log.step("e1", "A", "go", 0.5, "B", reason="first")
    log.step("e1", "B", "go", 0.25, "C", reason="second")
    log.step("e1", "C", "stop", 1.0, "end", terminated=True)
    state = run(log, RLConfig(n_step=2))
    record = state.records[("T", "C")]
    assert record.action_history == (("go", "first"), ("go", "second"))
    assert (record.last_reward, record.total_reward) == (0.25, 0.75)
    first = state.records[("T", "A")]
    assert (first.action_history, first.last_reward, first.total_reward) == ((), 0.0, 0.0)
    assert stats(state, "T", "B", "go").reason == "second"


def test_action_capacity_prunes_the_lowest_mean_reward_earliest_on_a_tie() -> None:
    log = Log()
    for i, action in enumerate(["a", "b", "c"]):
        log.episode(f"t{i}", "T", [("S", action, 0.0, "end")])
    state = run(log, RLConfig(action_capacity=2))
    # Three actions, all mean reward 0: a, added earliest, goes.
    assert list(state.records[("T", "S")].actions) == ["b", "c"]
    [pruned] = state.facts
    assert isinstance(pruned, Pruning)
    assert (pruned.action, pruned.mean_reward, pruned.visits) == ("a", 0.0, 1)
    assert pruned.position == log.events[-2].position
    assert "capacity 2" in pruned.reason and "earliest" in pruned.reason
    # a returns with a better reward: it starts afresh; then b (lowest) goes.
    log.episode("again", "T", [("S", "a", 1.0, "end")])
    state = run(log, RLConfig(action_capacity=2))
    assert qvn(state, "T", "S", "a") == (1.0, 1, 1.0)
    assert list(state.records[("T", "S")].actions) == ["c", "a"]
    assert [f.action for f in state.facts] == ["a", "b"]
    assert "earliest" in state.facts[1].reason  # b and c tie at 0: b was added first
    # The action just updated goes if it has the lowest mean reward.
    log.episode("worse", "T", [("S", "d", -1.0, "end")])
    state = run(log, RLConfig(action_capacity=2))
    assert list(state.records[("T", "S")].actions) == ["c", "a"]
    assert state.facts[-1].action == "d" and "earliest" not in state.facts[-1].reason


def test_truncated_episode_bootstraps_from_the_last_observation() -> None:
    log = Log()
    log.episode("seed", "T", [("G", "z", 4.0, "end")])
    log.episode("cut", "T", [("A", "x", 1.0, "B"), ("B", "y", 2.0, "G")], how="truncated")
    state = run(log, RLConfig(gamma=0.5, n_step=2))
    # Tail of a truncated episode: G(A) = 1 + 0.5*2 + 0.25*V(G)=4 = 3; G(B) = 2 + 0.5*4 = 4.
    assert qvn(state, "T", "A", "x")[0] == 3.0
    assert qvn(state, "T", "B", "y")[0] == 4.0
    terminated = Log()
    terminated.episode("seed", "T", [("G", "z", 4.0, "end")])
    terminated.episode("cut", "T", [("A", "x", 1.0, "B"), ("B", "y", 2.0, "G")])
    state = run(terminated, RLConfig(gamma=0.5, n_step=2))
    assert (qvn(state, "T", "A", "x")[0], qvn(state, "T", "B", "y")[0]) == (2.0, 2.0)


def test_double_q_updates_tables_in_turn_and_bootstraps_across() -> None:
    log = Log()
    log.episode("e1", "T", [("R", "b", 1.0, "end")])                        # occurrence 0
    log.episode("e2", "T", [("R", "c", 0.5, "end")])                        # 1
    log.episode("e3", "T", [("S", "a", 0.0, "R"), ("R", "b", 1.0, "end")])  # 2, 3
    log.episode("e4", "T", [("S", "a", 0.0, "R"), ("R", "c", 0.5, "end")])  # 4, 5
    state = run(log, RLConfig(double_q=True), trail=True)
    t0, t1 = state.tables
    # Occurrence 2 (table 0): table 0's argmax at R is b (1 > 0); table 1 has Q(R, b) = 0
    # then, so G = 0, though max Q_1(R) = 0.5 and max Q_0(R) = 1. Occurrence 4: table 1's
    # Q(R, b) is 1 by then (occurrence 3), so G = 1 and Q_0(S, a) = mean(0, 1).
    assert (t0[("T", "S")]["a"].q, t0[("T", "S")]["a"].visits) == (0.5, 2)
    assert (t1[("T", "S")]["a"].q, t1[("T", "S")]["a"].visits) == (0.0, 0)
    assert (t0[("T", "R")]["b"].q, t1[("T", "R")]["b"].q) == (1.0, 1.0)
    assert (t0[("T", "R")]["c"].q, t1[("T", "R")]["c"].q, t1[("T", "R")]["c"].visits) == (0.0, 0.5, 2)
    # The merged view: Q and mean reward averaged, visits summed.
    assert qvn(state, "T", "S", "a") == (0.25, 2, 0.0)
    assert qvn(state, "T", "R", "b") == (1.0, 2, 1.0)
    assert qvn(state, "T", "R", "c") == (0.25, 2, 0.25)
    trail = trail_for(state, ("T", "S"), "a")
    assert [(e.table, e.bootstrap_action, e.bootstrap, e.target) for e in trail] == [
        (0, "b", 0.0, 0.0), (0, "b", 1.0, 1.0)]
    assert replay_trail(trail, state.config) == 0.25


class TableSimilarity:
    """Similarities from a table over observations; counts its calls."""

    def __init__(self, table: dict[tuple[str, str], float]) -> None:
        self.table = {frozenset(pair): value for pair, value in table.items()}
        self.calls = 0

    def pair(self, a, b) -> float:
        self.calls += 1
        return self.table.get(frozenset((a.observation, b.observation)), 0.0)


SIMILARITIES = {
    ("A", "B"): 0.9, ("A", "C"): 0.2, ("B", "C"): 0.3,
    ("D", "A"): 0.95, ("D", "B"): 0.1, ("D", "C"): 0.1,
    ("E", "A"): 0.5, ("E", "B"): 0.5, ("E", "C"): 0.5,
    ("G", "C"): 0.5,
}


def test_item_capacity_refuses_or_evicts_by_similarity() -> None:
    log = Log()
    for episode, observation in [("a", "A"), ("b1", "B"), ("b2", "B"), ("c", "C")]:
        log.episode(episode, "T", [(observation, "go", 1.0, "end")])
    log.episode("d", "T", [("D", "go", 1.0, "end")])
    similarity = TableSimilarity(SIMILARITIES)
    state = run(log, RLConfig(item_capacity=3), similarity=similarity)
    # D is more similar to A (0.95) than the closest stored pair A-B (0.9): refused.
    assert set(state.records) == {("T", "A"), ("T", "B"), ("T", "C")}
    [refused] = state.facts
    assert isinstance(refused, Eviction)
    assert (refused.kind, refused.observation, refused.partner, refused.similarity) == (
        "refused", "D", ("T", "A"), 0.95)
    # E is at most 0.5 from anything: one of the closest pair A-B goes, B with more visits.
    log.episode("e", "T", [("E", "go", 1.0, "end")])
    state = run(log, RLConfig(item_capacity=3), similarity=TableSimilarity(SIMILARITIES))
    assert set(state.records) == {("T", "A"), ("T", "C"), ("T", "E")}
    evicted = state.facts[-1]
    assert (evicted.kind, evicted.observation, evicted.partner, evicted.similarity, evicted.visits) == (
        "evicted", "B", ("T", "A"), 0.9, 2)
    assert "more visits" in evicted.reason
    # F is 0.0 from all: the closest pairs are A-E and C-E (0.5); the tie goes to the pair
    # with the oldest record (A-E), and at equal visits the older record (A) goes.
    log.episode("f", "T", [("F", "go", 1.0, "end")])
    similarity = TableSimilarity(SIMILARITIES)
    state = run(log, RLConfig(item_capacity=3), similarity=similarity)
    assert set(state.records) == {("T", "C"), ("T", "E"), ("T", "F")}
    assert (state.facts[-1].observation, state.facts[-1].partner) == ("A", ("T", "E"))
    assert "equal visits, older" in state.facts[-1].reason
    # One row of similarities per new record (0 + 1 + 2 + 3 + 3 + 3), never the matrix.
    assert similarity.calls == 12
    # G is as similar to C (0.5) as C is to E, not more: not refused; C, older, goes.
    log.episode("g", "T", [("G", "go", 1.0, "end")])
    state = run(log, RLConfig(item_capacity=3), similarity=TableSimilarity(SIMILARITIES))
    assert set(state.records) == {("T", "E"), ("T", "F"), ("T", "G")}
    assert (state.facts[-1].kind, state.facts[-1].observation) == ("evicted", "C")


def test_item_capacity_one_keeps_the_first_record() -> None:
    log = Log()
    log.episode("a", "T", [("A", "go", 1.0, "end")])
    log.episode("b", "T", [("B", "go", 1.0, "end")])
    state = run(log, RLConfig(item_capacity=1))
    assert list(state.records) == [("T", "A")]
    assert state.facts[0].kind == "refused" and "no two stored records" in state.facts[0].reason


def test_imported_seed_then_an_update_continues_from_its_values() -> None:
    seed = PoolRecord(task="T", observation="S",
                      actions=[PoolAction(action="a", reason="pool", q=0.5, visits=2, mean_reward=0.25)],
                      key=("S", "T"), action_history=(("x", "because"),), last_reward=0.1,
                      total_reward=0.3, visits=5, record_id=7)
    log = Log()
    log.pool([seed])
    log.episode("e1", "T", [("S", "a", 1.0, "end")])
    state = run(log, trail=True)
    assert qvn(state, "T", "S", "a") == (0.5 + (1.0 - 0.5) / 3, 3, 0.5)
    record = state.records[("T", "S")]
    assert (record.visits, record.key, record.record_id) == (6, ("S", "T"), 7)
    assert (record.action_history, record.last_reward, record.total_reward) == ((), 0.0, 0.0)
    trail = trail_for(state, ("T", "S"), "a")
    assert [e.kind for e in trail] == ["seed", "update"]
    assert replay_trail(trail, state.config) == stats(state, "T", "S", "a").q

    const = run(log, RLConfig(update_mode="const", learning_rate=0.1))
    assert qvn(const, "T", "S", "a") == (0.5 + 0.1 * (1.0 - 0.5), 3, 0.25 + 0.1 * (1.0 - 0.25))

    double = fold(log.events[:1], initial_state(RLConfig(double_q=True)))
    assert qvn(double, "T", "S", "a") == (0.5, 2, 0.25)  # visits split 1 + 1 over the tables
    assert [t[("T", "S")]["a"].visits for t in double.tables] == [1, 1]


def test_a_pool_replacing_a_record_explains_the_actions_it_drops() -> None:
    log = Log()
    log.episode("e1", "T", [("S", "a", 1.0, "R"), ("R", "b", 0.5, "end")])
    log.episode("e2", "T", [("S", "c", 0.0, "end")])
    log.pool([PoolRecord(task="T", observation="S", actions=[PoolAction(action="a", q=0.25, visits=1)])],
             source="again.yaml")
    state = run(log, trail=True)
    assert list(state.records[("T", "S")].actions) == ["a"]
    assert [(f.position, f.action, f.q, f.visits, f.reason) for f in state.facts] == [
        (len(log.events), "c", 0.0, 1,
         "the pool imported from 'again.yaml' replaces this record, without this action")]
    assert [e.kind for e in trail_for(state, ("T", "S"), "a")] == ["seed"]  # its old updates went with it
    assert list(state.records[("T", "R")].actions) == ["b"]  # a record the pool lacks stays as it was


def test_record_forgotten_drops_the_record_and_history_restarts() -> None:
    log = Log()
    log.episode("e1", "T", WORKED)
    log.forget("T", "J", reason="bad demo")
    state = run(log)
    assert ("T", "J") not in state.records
    assert [r["observation"] for r in qtable_rows(state)] == ["R", "S"]
    assert (state.facts[0].kind, state.facts[0].reason, state.facts[0].visits) == ("forgotten", "bad demo", 1)
    # R now bootstraps from an unrecorded J again, and J starts afresh.
    log.episode("e2", "T", WORKED)
    state = run(log)
    assert qvn(state, "T", "R", "b") == (0.0, 2, 0.0)
    assert qvn(state, "T", "J", "buy") == (0.375, 1, 0.375)
    log.forget("T", "nowhere")  # forgetting an unknown record changes nothing
    after = run(log)
    assert (qtable_rows(after), after.facts) == (qtable_rows(state), state.facts)


def test_two_interleaved_open_episodes_keep_their_own_buffers() -> None:
    config = RLConfig(gamma=0.5, n_step=2)
    log = Log()
    log.start("e1", "X")
    log.start("e2", "Y")
    log.step("e1", "A", "a", 1.0, "B")
    log.step("e2", "A", "a", 10.0, "B")
    log.step("e1", "B", "b", 2.0, "C")
    log.step("e2", "B", "b", 20.0, "end", terminated=True)
    log.step("e1", "C", "c", 4.0, "end", terminated=True)
    state = run(log, config)
    # The same observation under two tasks is two states.
    assert qvn(state, "X", "A", "a")[0] == 2.0   # 1 + 0.5*2 + 0.25*V(X, C)=0
    assert qvn(state, "X", "B", "b")[0] == 4.0   # 2 + 0.5*4
    assert qvn(state, "X", "C", "c")[0] == 4.0
    assert qvn(state, "Y", "A", "a")[0] == 20.0  # 10 + 0.5*20
    assert qvn(state, "Y", "B", "b")[0] == 20.0
    apart = Log()
    apart.episode("e1", "X", [("A", "a", 1.0, "B"), ("B", "b", 2.0, "C"), ("C", "c", 4.0, "end")])
    apart.episode("e2", "Y", [("A", "a", 10.0, "B"), ("B", "b", 20.0, "end")])
    rows = [(r["task"], r["observation"], r["q"], r["visits"]) for r in qtable_rows(run(apart, config))]
    assert rows == [(r["task"], r["observation"], r["q"], r["visits"]) for r in qtable_rows(state)]


def test_an_episode_ended_without_a_done_step_leaves_its_tail_unapplied() -> None:
    log = Log()
    log.start("e1", "T")
    log.step("e1", "A", "a", 1.0, "B")
    log.end("e1")
    state = run(log, RLConfig(n_step=2))
    assert state.records == {} and state.episodes == {}


def test_listeners_follow_the_memory() -> None:
    calls = []

    class Listener:
        def record_added(self, record):
            calls.append(("added", record.observation))

        def record_changed(self, record):
            calls.append(("changed", record.observation))

        def record_removed(self, record, reason):
            calls.append(("removed", record.observation, reason))

    log = Log()
    log.episode("e1", "T", WORKED)
    log.episode("e2", "T", WORKED)
    log.forget("T", "J", "stale")
    run(log, listeners=[Listener()])
    assert calls == [("added", "S"), ("added", "R"), ("added", "J"),
                     ("changed", "S"), ("changed", "R"), ("changed", "J"), ("removed", "J", "stale")]


def test_qtable_rows_are_sorted_in_code_point_order() -> None:
    log = Log()
    log.episode("e1", "t", [("é", "b", 0.0, "a"), ("a", "b", 0.0, "B"), ("B", "a", 1.0, "end")])
    log.episode("e2", "T", [("a", "z", 0.5, "end")])
    rows = qtable_rows(run(log))
    assert [(r["task"], r["observation"], r["action"]) for r in rows] == [
        ("T", "a", "z"), ("t", "B", "a"), ("t", "a", "b"), ("t", "é", "b")]
    assert set(rows[0]) == {"task", "observation", "action", "q", "visits", "mean_reward"}


def test_state_round_trips_through_json() -> None:
    """Double Q, capacities (pruning, eviction), a trail, an open episode with a pending
    occurrence, a frozen test episode and an imported record (key, id, a 3-string history
    step) survive a snapshot, and the fold continues from it as from the original."""
    pool = PoolRecord(task="T", observation="P", key=("P", "T", "é"), record_id=7, visits=5,
                      actions=[PoolAction(action="p", reason="pool", q=0.5, visits=0, mean_reward=0.25)],
                      action_history=(("x", "why", "extra"),), last_reward=0.1, total_reward=0.3)
    log = Log()
    log.start_run()
    log.pool([pool])
    log.episode("e1", "T", WORKED)
    log.episode("e2", "T", [("S", "c", 1.0, "K"), ("K", "b", 0.5, "end")])
    log.start("open", "T")
    log.step("open", "S", "a", 0.1, "R", reason="thinking")
    log.step("open", "R", "b", 0.2, "J")
    log.add(EpisodeStarted, "t1", episode="t1", task="T", split="test")
    log.steps["t1"] = 0
    cut = len(log.events)
    log.step("open", "J", "buy", 1.0, "end", terminated=True)
    log.step("t1", "S", "a", 1.0, "end", terminated=True)
    log.episode("e3", "T", WORKED)
    config = RLConfig(n_step=2, action_capacity=1, item_capacity=3, double_q=True)
    state = fold(log.events[:cut], initial_state(config, trail=True))
    assert {type(f) for f in state.facts} == {Pruning, Eviction}
    assert state.episodes["open"].pending and state.frozen == {"t1"}
    assert state.records[("T", "P")].action_history == (("x", "why", "extra"),)
    text = state.to_json()
    again = FoldState.from_json(text)
    assert state_parts(again) == state_parts(state)
    assert again.to_json() == text
    assert again.episodes["open"].pending[0][:4] == ("R", "b", "", 0.2)
    rest = log.events[cut:]
    assert state_parts(fold(rest, again)) == state_parts(fold(rest, state))
    assert again.to_json() == state.to_json()


@pytest.mark.parametrize("mistake", ["unknown episode", "replayed position", "restarted episode",
                                     "after the end"])
def test_malformed_logs_raise_fold_error(mistake: str) -> None:
    log = Log()
    log.start("e1", "T")
    state = run(log)
    if mistake == "unknown episode":
        log.steps["ghost"] = 0
        bad = log.step("ghost", "S", "a", 0.0, "R")
    elif mistake == "replayed position":
        bad = log.events[0]
    elif mistake == "restarted episode":
        bad = log.start("e1", "T")
    else:
        fold([log.step("e1", "S", "a", 0.0, "end", terminated=True)], state)
        bad = log.step("e1", "S", "a", 0.0, "end")
    with pytest.raises(FoldError):
        apply(bad, state)


def test_trail_needs_trail_on() -> None:
    with pytest.raises(FoldError, match="trail=True"):
        trail_for(initial_state(RLConfig()), ("T", "S"), "a")
