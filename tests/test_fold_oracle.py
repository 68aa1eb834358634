"""The fold against an oracle: SPEC section 3 written out plainly, from the SPEC text alone.

The oracle below was written without reading the arithmetic of replay/fold.py or trail.py; it
shares only the event classes and the test log builder. After every event of a hypothesis run,
its Q-table (q, visits, mean reward per (task, observation, action)) must equal the fold's
(`qtable_rows`), and so must the list of actions pruned by the action capacity.
Item capacity is left out: the SPEC ties eviction to stored embeddings, too much for an oracle.

Readings of the SPEC the oracle commits to (each is a choice the SPEC text makes, or leaves):
- An episode "ends" at its transition flagged terminated/truncated (not at EpisodeEnded);
  an unfinished (open) episode keeps its last n-1 occurrences pending.
- Double Q: "occurrence k" is the k-th update applied in the run (k = 0, 1, ...); an action
  of a record has stats in both tables (zero-initialised); the argmax over table k's Q takes
  the earliest-added action on a tie (the SPEC does not say); the merged mean reward, which
  the SPEC leaves open ("Q averaged, visits summed"), is averaged like Q (FoldState's
  docstring), and the action capacity compares merged mean rewards.
"""

from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from replay.fold import fold, initial_state, qtable_rows
from replay.trail import Pruning
from store.events import EpisodeEnded, EpisodeStarted, RecordForgotten, RLConfig, TransitionRecorded
from tests.fold_log import Log, draw_run

# Powers of these are exact however they are computed (pow or repeated products).
EXACT_GAMMAS = (0.0, 0.25, 0.5, 0.75, 1.0)


class Oracle:
    """SPEC section 3, literally. records: (task, obs) -> action -> [[q, visits, mean_reward]
    per table]; dicts keep insertion order, which is the order actions were added."""

    def __init__(self, config: RLConfig) -> None:
        self.c = config
        self.records: dict[tuple[str, str], dict[str, list[list]]] = {}
        self.episodes: dict[str, dict] = {}
        self.updates = 0
        self.prunings: list[tuple[int, str, str, str]] = []

    def event(self, position: int, e) -> None:
        if isinstance(e, EpisodeStarted):
            self.episodes[e.episode] = {"task": e.task, "test": e.split == "test",
                                        "obs": [], "acts": [], "rews": []}
        elif isinstance(e, EpisodeEnded):
            self.episodes.pop(e.episode, None)
        elif isinstance(e, RecordForgotten):
            self.records.pop((e.task, e.observation), None)
        elif isinstance(e, TransitionRecorded):
            ep = self.episodes[e.episode]
            if ep["test"]:  # SPEC 5: testing "with memory frozen"
                return
            if not ep["obs"]:
                ep["obs"].append(e.observation)
            ep["acts"].append(e.action)
            ep["rews"].append(e.reward)
            ep["obs"].append(e.next_observation)  # o_{T_now} arrives
            now, n = len(ep["acts"]), self.c.n_step
            if e.terminated or e.truncated:
                # "the last min(n, T) occurrences are applied oldest first"
                for t in range(now - min(n, now), now):
                    self.apply(position, ep, t, now, bootstrap=e.truncated)
            elif now - n >= 0:  # "applied when o_{t+n} arrives"
                self.apply(position, ep, now - n, now, bootstrap=True)

    def value(self, key: tuple[str, str], k: int) -> float:
        """V(s): "the largest Q among the actions recorded for s, 0 if s has no record";
        double Q: "the other table's value at this table's argmax"."""
        record = self.records.get(key)
        if not record:
            return 0.0
        if not self.c.double_q:
            return max(stats[0][0] for stats in record.values())
        best = max(record, key=lambda a: record[a][k][0])  # first maximum: earliest added
        return record[best][1 - k][0]

    def apply(self, position: int, ep: dict, t: int, end: int, *, bootstrap: bool) -> None:
        c, g = self.c, self.c.gamma
        k = self.updates % 2 if c.double_q else 0
        self.updates += 1
        task = ep["task"]
        # G = sum_{m=t}^{end-1} gamma^(m-t) r_m [+ gamma^(end-t) V(o_end)], summed in that order;
        # V "read at the moment the update is applied".
        G = 0.0
        for m in range(t, end):
            G += g ** (m - t) * ep["rews"][m]
        if bootstrap:
            G += g ** (end - t) * self.value((task, ep["obs"][end]), k)
        key, action, r = (task, ep["obs"][t]), ep["acts"][t], ep["rews"][t]
        record = self.records.setdefault(key, {})
        stats = record.setdefault(action, [[0.0, 0, 0.0] for _ in range(2 if c.double_q else 1)])
        s = stats[k]
        s[1] += 1
        if c.update_mode == "mean":
            s[0] = s[0] + (G - s[0]) / s[1]
            s[2] = s[2] + (r - s[2]) / s[1]
        else:
            s[0] = s[0] + c.learning_rate * (G - s[0])
            s[2] = s[2] + c.learning_rate * (r - s[2])
        if c.action_capacity is not None and len(record) > c.action_capacity:
            # "remove the one with the lowest mean reward; on a tie, the one added earliest"
            victim = min(record, key=lambda a: self.merged(record[a])[2])
            del record[victim]
            self.prunings.append((position, task, key[1], victim))

    def merged(self, stats: list[list]) -> tuple[float, int, float]:
        if len(stats) == 1:
            return tuple(stats[0])
        (q0, v0, m0), (q1, v1, m1) = stats
        return (q0 + q1) / 2, v0 + v1, (m0 + m1) / 2

    def rows(self) -> list[tuple]:
        return sorted((task, obs, a, *self.merged(stats))
                      for (task, obs), record in self.records.items() for a, stats in record.items())


# --------------------------------------------------------------------------- comparison


def fold_rows(state) -> list[tuple]:
    return [(r["task"], r["observation"], r["action"], r["q"], r["visits"], r["mean_reward"])
            for r in qtable_rows(state)]


def same_rows(ours: list[tuple], theirs: list[tuple], exact: bool) -> bool:
    if [row[:3] + row[4:5] for row in ours] != [row[:3] + row[4:5] for row in theirs]:
        return False
    if exact:  # every operation's order is fixed by the SPEC: bit-for-bit
        return [row[3::2] for row in ours] == [row[3::2] for row in theirs]
    # gamma^m with an arbitrary gamma: the SPEC does not fix how the power is evaluated
    # (pow or repeated products differ in the last bit), so only closeness; abs_tol covers
    # values that cancel to about zero.
    return all(math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-12)
               for ours_row, theirs_row in zip(ours, theirs)
               for a, b in zip(ours_row[3::2], theirs_row[3::2]))


def check(config: RLConfig, log: Log) -> None:
    oracle, state = Oracle(config), initial_state(config)
    exact = config.gamma in EXACT_GAMMAS
    for recorded in log.events:
        oracle.event(recorded.position, recorded.event)
        state = fold([recorded], state)
        ours, theirs = oracle.rows(), fold_rows(state)
        assert same_rows(ours, theirs, exact), (recorded.position, ours, theirs)
        pruned = [(f.position, f.task, f.observation, f.action)
                  for f in state.facts if isinstance(f, Pruning)]
        assert pruned == oracle.prunings, recorded.position


# --------------------------------------------------------------------------- generated runs

configs = st.builds(
    RLConfig,
    gamma=st.sampled_from(EXACT_GAMMAS) | st.floats(0.0, 1.0),
    n_step=st.integers(1, 4),
    update_mode=st.sampled_from(["mean", "const"]),
    learning_rate=st.sampled_from([0.1, 0.5, 1.0]) | st.floats(0.0, 1.0, exclude_min=True),
    action_capacity=st.none() | st.integers(1, 3),
    double_q=st.booleans(),
)


@st.composite
def runs(draw) -> Log:
    """Interleaved episodes over few states (so values repeat and bootstraps read learned
    ones), ending terminated, truncated or not at all; some test-split; some forgetting."""
    return draw_run(draw, tasks=["t1", "t2"], observations="ABC", actions="xyz",
                    rewards=[0.0, 0.1, 1.0, -0.5, 0.375, 2.0], endings=["terminated", "truncated", "open"],
                    max_length=6, splits=["train", "train", "train", "test"], side_event=_forget, side_odds=15)


def _forget(draw, log: Log) -> None:
    log.forget(draw(st.sampled_from(["t1", "t2"])), draw(st.sampled_from("ABC")))


@settings(max_examples=300, deadline=None, derandomize=True)
@given(configs, runs())
def test_the_fold_equals_the_oracle_after_every_event(config: RLConfig, log: Log) -> None:
    check(config, log)


def test_the_oracle_reproduces_the_worked_example() -> None:
    """SPEC section 3's worked example (gamma = 1, n = 1, mean), oracle and fold alike."""
    log = Log()
    log.start_run()
    for e in ("e1", "e2"):
        log.episode(e, "shop", [("S", "a", 0.0, "R"), ("R", "b", 0.0, "J"), ("J", "buy", 0.375, "end")])
    oracle = Oracle(RLConfig())
    for recorded in log.events:
        oracle.event(recorded.position, recorded.event)
    assert oracle.rows() == [("shop", "J", "buy", 0.375, 2, 0.375), ("shop", "R", "b", 0.1875, 2, 0.0),
                             ("shop", "S", "a", 0.0, 2, 0.0)]
    check(RLConfig(), log)
