"""Gymnasium's toy-text environments as text environments: `gym:FrozenLake-v1` and friends.

The observation is the grid drawn in text with the agent's square marked `@` plus a line
saying where it is; actions are named (`left`, `down`, ...; Taxi's `south` ... `dropoff`);
the task text names the goal. Rewards, `terminated` and `truncated` are Gymnasium's own
(its TimeLimit truncates; `max_steps` overrides the registered limit).
"""

from __future__ import annotations

from typing import Any

import gymnasium

from rememberer_tui.envs.base import EnvError, Info, StepResult

ACTIONS = {
    "FrozenLake": ("left", "down", "right", "up"),
    "CliffWalking": ("up", "right", "down", "left"),
    "Taxi": ("south", "north", "east", "west", "pickup", "dropoff"),
}
TAXI_STOPS = ("red (R)", "green (G)", "yellow (Y)", "blue (B)")


def family(env_id: str) -> str:
    name = env_id.split("/")[-1].split("-")[0]
    found = next((f for f in ACTIONS if name.startswith(f)), None)
    if found is None:
        raise EnvError(f"gym:{env_id} is not supported; use one of {', '.join(supported_ids())}")
    return found


def supported_ids() -> list[str]:
    """The toy-text ids this Gymnasium registers, newest version of each."""
    ids = []
    for name in ("FrozenLake", "FrozenLake8x8", "CliffWalking", "Taxi"):
        versions = [k for k in gymnasium.registry if k.split("-")[0] == name]
        if versions:
            ids.append(max(versions, key=lambda k: int(k.rsplit("-v", 1)[1])))
    return ids


class GymTextEnv:
    def __init__(self, env_id: str, max_steps: int | None = None, **kwargs: Any):
        self.family = family(env_id)
        self.env_id = env_id
        extra = {"max_episode_steps": max_steps} if max_steps is not None else {}
        try:
            self.env = gymnasium.make(env_id, **extra, **kwargs)
        except gymnasium.error.Error as exc:
            raise EnvError(f"gym:{env_id}: {exc}") from None
        self.actions = ACTIONS[self.family]
        self._state = 0
        self._task = ""

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[str, Info]:
        self._state, _ = self.env.reset(seed=seed, options=options)
        self._task = self._describe_task()
        return self._render(), self._info(False)

    def step(self, action: str) -> StepResult:
        name = action.strip().lower()
        if name not in self.actions:
            return self._render(), 0.0, False, False, self._info(True)
        self._state, reward, terminated, truncated, _ = self.env.step(self.actions.index(name))
        return self._render(), float(reward), bool(terminated), bool(truncated), self._info(False)

    def close(self) -> None:
        self.env.close()

    def _info(self, invalid: bool) -> Info:
        return {"task": self._task, "task_id": self.env_id, "available_actions": list(self.actions),
                "invalid_action": invalid}

    def _grid(self) -> list[list[str]]:
        return [[c.decode() for c in row] for row in self.env.unwrapped.desc]

    def _describe_task(self) -> str:
        if self.family == "FrozenLake":
            size = len(self._grid())
            slippery = len(self.env.unwrapped.P[0][0]) > 1  # a move may slide sideways
            return (f"Walk across the {size}x{size} frozen lake from the start S to the goal G "
                    "without falling into a hole H" + ("; the ice is slippery." if slippery else "."))
        if self.family == "CliffWalking":
            return "Walk from the start S to the goal G along the grid without stepping off the cliff C."
        _, _, passenger, destination = self.env.unwrapped.decode(self._state)
        return f"Pick up the passenger at {TAXI_STOPS[passenger]} and drop them off at {TAXI_STOPS[destination]}."

    def _render(self) -> str:
        state = int(self._state)
        if self.family == "FrozenLake":
            grid = self._grid()
            row, col = divmod(state, len(grid[0]))
            grid[row][col] = "@"
            where = f"You are at row {row}, column {col}."
        elif self.family == "CliffWalking":
            rows, cols = self.env.unwrapped.shape
            grid = [["."] * cols for _ in range(rows)]
            grid[rows - 1] = ["S"] + ["C"] * (cols - 2) + ["G"]
            row, col = divmod(state, cols)
            grid[row][col] = "@"
            where = f"You are at row {row}, column {col}."
        else:
            grid = self._grid()
            row, col, passenger, destination = (int(v) for v in self.env.unwrapped.decode(state))
            grid[row + 1][2 * col + 1] = "@"
            carried = "in the taxi" if passenger == 4 else f"waiting at {TAXI_STOPS[passenger]}"
            where = (f"The taxi is at row {row}, column {col}. The passenger is {carried}; "
                     f"the destination is {TAXI_STOPS[destination]}.")
        return "\n".join("".join(r) for r in grid) + "\n" + where
