"""Gymnasium as ground truth: the fold, fed an environment's episodes, learns its Q*.

Q* comes from value iteration on the environment's own transition table
(`env.unwrapped.P`). Episodes are played in the real environment with seeded policies,
recorded as events and folded as they happen (mean mode, n = 1, gamma 0.95): the fold is
the learner, the policy reads its table.

Mean mode moves Q by 1/N, and Q-learning with 1/N steps converges at a rate like
N^-(1 - gamma) under arbitrary exploration (Szepesvari 1998): slow for gamma = 0.95.
So besides learning from scratch on FrozenLake (where the zero start is pessimistic and
the greedy policy turns optimal fast), a backward exploring-starts pass, ordered by the
states' distance to the goal in the transition graph (no values used), must land on Q*
itself: every target it sees is then exact. Further epsilon-greedy episodes from the
environment's start must keep Q there, since Q* is a fixed point of the update.
"""

from __future__ import annotations

import random
from collections import Counter, deque

import gymnasium as gym
import numpy as np
import pytest

from replay.fold import FoldState, apply, initial_state
from store.events import RLConfig
from tests.fold_log import Log

GAMMA = 0.95
CONFIG = RLConfig(gamma=GAMMA, n_step=1, update_mode="mean")
ENVS = {
    "FrozenLake-v1": ({"is_slippery": False}, ["left", "down", "right", "up"]),
    "CliffWalking-v1": ({}, ["up", "right", "down", "left"]),
}


def q_star(P: dict, n_states: int, n_actions: int) -> np.ndarray:
    """Value iteration on the transition table, to a fixed point."""
    q = np.zeros((n_states, n_actions))
    while True:
        v = q.max(axis=1)
        new = np.array([[sum(p * (r + (0.0 if done else GAMMA * v[s2])) for p, s2, r, done in P[s][a])
                         for a in range(n_actions)] for s in range(n_states)])
        if np.abs(new - q).max() < 1e-13:
            return new
        q = new


class Learner:
    """Plays episodes in one environment and folds each event as it is recorded."""

    def __init__(self, env_id: str, **make_kwargs) -> None:
        kwargs, self.names = ENVS[env_id]
        self.env = gym.make(env_id, **kwargs, **make_kwargs)
        self.P = self.env.unwrapped.P
        self.n_states = self.env.unwrapped.observation_space.n
        self.n_actions = self.env.unwrapped.action_space.n
        self.q_star = q_star(self.P, self.n_states, self.n_actions)
        # Terminal: entered by a transition that terminates (holes, the goal).
        self.terminal = {s2 for s in self.P for a in self.P[s] for _, s2, _, done in self.P[s][a] if done}
        self.states = [s for s in range(self.n_states) if s not in self.terminal]
        self.goal = self.n_states - 1  # both maps put the goal in the last cell
        self.task = env_id
        self.log = Log()
        self.state: FoldState = initial_state(CONFIG)
        self.endings: Counter[str] = Counter()

    def play(self, policy, *, seed: int, start: int | None = None, budget: int | None = None) -> None:
        episode = f"ep{sum(self.endings.values())}"
        apply(self.log.start(episode, self.task), self.state)
        s, _ = self.env.reset(seed=seed)
        if start is not None:
            s = self.env.unwrapped.s = start
        for t in range(10_000):
            a = policy(s)
            s2, r, terminated, truncated, _ = self.env.step(a)
            truncated = (truncated or t + 1 == budget) and not terminated
            apply(self.log.step(episode, f"state {s}", self.names[a], float(r), f"state {s2}",
                                terminated=terminated, truncated=truncated), self.state)
            s = s2
            if terminated or truncated:
                self.endings["terminated" if terminated else "truncated"] += 1
                break
        apply(self.log.end(episode), self.state)

    def successor(self, s: int, a: int) -> int:
        [(_, s2, _, _)] = self.P[s][a]  # both maps are deterministic here
        return s2

    def learned_row(self, s: int) -> np.ndarray:
        """The learned Q of state s (NaN where an action was never tried)."""
        record = self.state.records.get((self.task, f"state {s}"))
        actions = record.actions if record is not None else {}
        return np.array([actions[name].q if name in actions else np.nan for name in self.names])

    def learned(self) -> np.ndarray:
        q = np.full((self.n_states, self.n_actions), np.nan)
        for s in self.states:
            q[s] = self.learned_row(s)
        return q

    def max_error(self) -> float:
        q = self.learned()[self.states]
        assert not np.isnan(q).any(), "every action of every state must have been tried"
        return float(np.abs(q - self.q_star[self.states]).max())

    def assert_greedy_is_optimal(self) -> None:
        q = self.learned()
        for s in self.states:
            chosen = int(np.argmax(q[s]))
            assert self.q_star[s, chosen] >= self.q_star[s].max() - 1e-9, (
                f"state {s}: greedy {self.names[chosen]} has Q* {self.q_star[s, chosen]}, "
                f"best {self.q_star[s].max()}")

    def epsilon_greedy(self, rng: random.Random, epsilon: float):
        def policy(s: int) -> int:
            q = self.learned_row(s)
            if rng.random() < epsilon or np.isnan(q).all():
                return rng.randrange(self.n_actions)
            best = np.nanmax(q)
            return rng.choice([a for a in range(self.n_actions) if q[a] == best])
        return policy

    def distances(self) -> dict[int, int]:
        """Steps to the goal in the transition graph (breadth first, backwards)."""
        distance = {self.goal: 0}
        frontier = deque([self.goal])
        while frontier:
            target = frontier.popleft()
            for s in self.states:
                if s not in distance and any(s2 == target for a in self.P[s] for _, s2, _, _ in self.P[s][a]):
                    distance[s] = distance[target] + 1
                    frontier.append(s)
        return distance


def test_frozenlake_random_episodes_learn_an_optimal_policy() -> None:
    learner = Learner("FrozenLake-v1", max_episode_steps=100)
    rng = random.Random(7)
    errors = []
    for episodes in (1000, 2000, 4000):
        while sum(learner.endings.values()) < episodes:
            learner.play(lambda s: rng.randrange(learner.n_actions), seed=len(learner.log.events))
        learner.assert_greedy_is_optimal()
        errors.append(learner.max_error())
    assert errors[0] > errors[1] > errors[2], errors
    assert errors[2] < 0.6, errors
    assert learner.endings["terminated"] > 0


@pytest.mark.parametrize(("env_id", "budget"), [("CliffWalking-v1", 20), ("FrozenLake-v1", 8)])
def test_a_backward_pass_lands_on_q_star_and_stays_there(env_id: str, budget: int) -> None:
    learner = Learner(env_id)
    rng = random.Random(11)
    distance = learner.distances()
    assert set(distance) >= set(learner.states)
    # One-step episodes (a step budget of 1) from every state: first the actions that get
    # closer to the goal, nearest states first; then every other action, in seeded order.
    closer = [(s, a) for s in sorted(learner.states, key=distance.get) for a in range(learner.n_actions)
              if distance.get(learner.successor(s, a), -1) == distance[s] - 1]
    others = [(s, a) for s in learner.states for a in range(learner.n_actions) if (s, a) not in closer]
    rng.shuffle(others)
    for i, (s, a) in enumerate(closer + others):
        learner.play(lambda _, a=a: a, seed=i, start=s, budget=1)
    assert learner.max_error() < 1e-9
    learner.assert_greedy_is_optimal()
    # Whole episodes from the start, epsilon-greedy over the learned table.
    before = Counter(learner.endings)
    policy = learner.epsilon_greedy(rng, epsilon=0.3)
    for i in range(150):
        learner.play(policy, seed=1000 + i, budget=budget)
    played = learner.endings - before
    assert played["terminated"] > 0 and played["truncated"] > 0, played
    assert learner.max_error() < 1e-9
    learner.assert_greedy_is_optimal()
