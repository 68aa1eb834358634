"""The one environment protocol agent sessions drive (Gymnasium-shaped, text in, text out).

`reset(*, seed=None, options=None) -> (observation, info)` and
`step(action) -> (observation, reward, terminated, truncated, info)`. Observations are
deterministic text because memory keys are (task, observation). `info` always holds
`task` (the instruction text), `task_id` and `available_actions` (action strings).
An action that is not available leaves the state unchanged, gives reward 0 and sets
`info["invalid_action"]`; `terminated` (the task ended) and `truncated` (the step budget
ran out) stay apart because the fold bootstraps them differently.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

Info = dict[str, Any]
StepResult = tuple[str, float, bool, bool, Info]

# An available action ending in `[<...>]` is a template: any non-empty argument fills it.
_TEMPLATE = re.compile(r"^(?P<verb>[^\[\]]+)\[<[^\[\]]*>\]$")
_ACTION = re.compile(r"^(?P<verb>[^\[\]]+)\[(?P<arg>.+)\]$", re.DOTALL)


class EnvError(RuntimeError):
    """An environment that cannot be built or driven; the message says what to do."""


@runtime_checkable
class TextEnv(Protocol):
    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[str, Info]: ...

    def step(self, action: str) -> StepResult: ...

    def close(self) -> None: ...


def parse_action(action: str) -> tuple[str, str | None]:
    """`verb[argument]` -> (verb, argument); anything else -> (action, None), as WebShop does."""
    match = _ACTION.match(action.strip())
    if match is None:
        return action.strip(), None
    return match["verb"], match["arg"]


def is_available(action: str, available_actions: Sequence[str]) -> bool:
    """Whether `action` is one of `available_actions`, templates like `search[<query>]` included."""
    if action in available_actions:
        return True
    verb, arg = parse_action(action)
    if arg is None or not arg.strip():
        return False
    return any((m := _TEMPLATE.match(a)) is not None and m["verb"] == verb for a in available_actions)


class StepLimit:
    """Ends an episode with `truncated` after `max_steps` steps, like Gymnasium's TimeLimit."""

    def __init__(self, env: TextEnv, max_steps: int | None):
        if max_steps is not None and max_steps < 1:
            raise EnvError(f"max_steps must be at least 1, got {max_steps}")
        self.env = env
        self.max_steps = max_steps
        self._steps = 0

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[str, Info]:
        self._steps = 0
        return self.env.reset(seed=seed, options=options)

    def step(self, action: str) -> StepResult:
        observation, reward, terminated, truncated, info = self.env.step(action)
        self._steps += 1
        if self.max_steps is not None and self._steps >= self.max_steps and not terminated:
            truncated = True
        return observation, reward, terminated, truncated, info

    def close(self) -> None:
        self.env.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.env, name)
