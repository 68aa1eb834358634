"""gym:<id>: Gymnasium's toy-text environments behind the text protocol."""

from __future__ import annotations

from collections import deque

import pytest

from rememberer_tui.envs import EnvError, list_envs, make_env


def run(env, actions):
    return [env.step(a) for a in actions]


def test_frozen_lake_without_slipping_reaches_the_goal_with_reward_one():
    env = make_env("gym:FrozenLake-v1", is_slippery=False)
    observation, info = env.reset(seed=0)
    assert observation == "@FFF\nFHFH\nFFFH\nHFFG\nYou are at row 0, column 0."
    assert info["task"] == ("Walk across the 4x4 frozen lake from the start S to the goal G "
                            "without falling into a hole H.")
    assert info["available_actions"] == ["left", "down", "right", "up"] and info["task_id"] == "FrozenLake-v1"
    steps = run(env, ["right", "right", "down", "down", "down", "right"])
    assert [s[1:4] for s in steps] == [(0.0, False, False)] * 5 + [(1.0, True, False)]
    assert steps[-1][0] == "SFFF\nFHFH\nFFFH\nHFF@\nYou are at row 3, column 3."
    assert [type(x) for x in steps[0]] == [str, float, bool, bool, dict]


def test_frozen_lake_hole_terminates_with_nothing():
    env = make_env("gym:FrozenLake-v1", is_slippery=False)
    env.reset(seed=0)
    observation, reward, terminated, truncated, _ = env.step("down")
    assert (reward, terminated) == (0.0, False)
    observation, reward, terminated, truncated, _ = env.step("right")
    assert (observation.splitlines()[1], reward, terminated, truncated) == ("F@FH", 0.0, True, False)


def test_slippery_lake_is_deterministic_given_the_seed():
    def episode(seed):
        env = make_env("gym:FrozenLake-v1")
        out = [env.reset(seed=seed)]
        return out + run(env, ["right", "down", "right", "down", "right", "down"] * 3)

    first = episode(42)
    assert first == episode(42)
    assert "the ice is slippery" in first[0][1]["task"]
    assert any(episode(seed) != first for seed in range(43, 48))  # the seed matters


def test_the_registered_time_limit_truncates_frozen_lake():
    env = make_env("gym:FrozenLake-v1", is_slippery=False)
    env.reset(seed=0)
    steps = run(env, ["left"] * 100)
    assert all(s[2:4] == (False, False) for s in steps[:-1]) and steps[-1][2:4] == (False, True)


def test_cliff_walking_pays_minus_one_a_step_and_minus_hundred_for_the_cliff():
    env = make_env("gym:CliffWalking-v1")
    observation, info = env.reset(seed=0)
    assert observation.splitlines()[3] == "@CCCCCCCCCCG" and "cliff" in info["task"]
    observation, reward, *_ = env.step("right")  # off the cliff, back to the start
    assert (reward, observation.splitlines()[-1]) == (-100.0, "You are at row 3, column 0.")
    steps = run(env, ["up"] + ["right"] * 11 + ["down"])
    assert [s[1] for s in steps] == [-1.0] * 13
    assert [s[2:4] for s in steps[-2:]] == [(False, False), (True, False)]


def test_a_step_budget_truncates_without_terminating():
    env = make_env("gym:CliffWalking-v1", max_steps=3)
    env.reset(seed=0)
    assert [s[2:4] for s in run(env, ["up", "up", "up"])] == [(False, False), (False, False), (False, True)]


def shortest_taxi_plan(env) -> list[str]:
    """Breadth-first search over Gymnasium's own transition table to a successful dropoff."""
    table, start = env.env.unwrapped.P, int(env._state)
    names = env.actions
    queue, seen = deque([(start, [])]), {start}
    while queue:
        state, plan = queue.popleft()
        for action, outcomes in table[state].items():
            _, following, reward, done = outcomes[0]
            if done and reward == 20:
                return plan + [names[action]]
            if following not in seen:
                seen.add(following)
                queue.append((following, plan + [names[action]]))
    raise AssertionError("no plan")


def test_taxi_names_its_goal_and_pays_twenty_for_the_dropoff():
    env = make_env("gym:Taxi-v4")
    observation, info = env.reset(seed=0)
    assert info["task"] == "Pick up the passenger at blue (B) and drop them off at yellow (Y)."
    assert observation.splitlines()[4] == "|@| : | : |"
    assert info["available_actions"] == ["south", "north", "east", "west", "pickup", "dropoff"]
    assert env.step("pickup")[1] == -10.0  # no passenger here
    plan = shortest_taxi_plan(env)
    steps = run(env, plan)
    assert [s[1] for s in steps] == [-1.0] * (len(plan) - 1) + [20.0]
    assert steps[-1][2:4] == (True, False)
    assert "in the taxi" in steps[plan.index("pickup")][0]


def test_an_unknown_action_is_a_no_op():
    env = make_env("gym:Taxi-v4")
    observation, _ = env.reset(seed=5)
    assert env.step("fly")[:4] == (observation, 0.0, False, False)
    assert env.step("fly")[4]["invalid_action"] is True


@pytest.mark.filterwarnings("ignore:.*Taxi-v3 is out of date:DeprecationWarning")
def test_supported_ids_are_listed_and_others_refused():
    names = list_envs()
    assert {"gym:FrozenLake-v1", "gym:CliffWalking-v1", "gym:Taxi-v4"} <= set(names)
    with pytest.raises(EnvError, match="Taxi-v4"):
        make_env("gym:Taxi-v3")  # Gymnasium 1.x retired v3
    with pytest.raises(EnvError, match="not supported"):
        make_env("gym:CartPole-v1")
