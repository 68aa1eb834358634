"""ScienceWorld (the `scienceworld` extra, Java 17) as a text environment.

Tasks are (task name, variation) pairs; a split is ScienceWorld's own train / dev / test
variations of one task name. ScienceWorld scores an episode 0..100; the reward of a step
is the score's change scaled to 0..1 (negative when the score falls, -1 and a bit at a
failed task). `terminated` is ScienceWorld's completion (success or failure); the step
budget is ours (`StepLimit`), so ScienceWorld's own limit is set out of reach. Available
actions are ScienceWorld's valid action-object combinations, sorted so they are
deterministic; `info["score"]` is the running score in 0..1. Starting the JVM takes 3-5 s,
a step 0.3-0.6 s (listing the valid actions); one env serves many episodes.
"""

from __future__ import annotations

import random
import shutil
from typing import Any

from rememberer_tui.envs.base import EnvError, Info, StepResult

INSTALL = "pip install 'rememberer[scienceworld]'"
SPLITS = ("train", "dev", "test")


def _check_requirements() -> Any:
    if shutil.which("java") is None:
        raise EnvError("ScienceWorld needs Java (17 or newer) on PATH and found no `java`; "
                       "install a JDK, e.g. `apt-get install openjdk-17-jre-headless`")
    try:
        from scienceworld import ScienceWorldEnv
    except ImportError:
        raise EnvError(f"ScienceWorld is an optional extra and is not installed: {INSTALL}") from None
    return ScienceWorldEnv


class ScienceWorldTextEnv:
    def __init__(self, task: str | None = None, split: str = "train", simplification: str = "easy"):
        server = _check_requirements()
        if split not in SPLITS:
            raise EnvError(f"unknown split {split!r}; choose from {', '.join(SPLITS)}")
        try:
            self.env = server("", envStepLimit=10**9)
        except Exception as exc:  # the JVM failed to start: its message is the useful part
            raise EnvError(f"ScienceWorld could not start its Java server: {exc}") from None
        self.task_names: list[str] = list(self.env.get_task_names())
        self.task = self._check_task(task or self.task_names[0])
        self.split = split
        self.simplification = simplification
        self._rng = random.Random(0)
        self._task_id = ""
        self._task_text = ""
        self._score = 0
        self._observation = ""
        self._valid: list[str] = []
        self._variations: dict[tuple[str, str], list[int]] = {}

    def _check_task(self, task: str) -> str:
        if task not in self.task_names:
            raise EnvError(f"unknown ScienceWorld task {task!r}; choose from {', '.join(self.task_names)}")
        return task

    def variations(self, task: str, split: str) -> list[int]:
        if (task, split) not in self._variations:
            self.env.load(task, 0, self.simplification)
            self._variations[(task, split)] = list(
                {"train": self.env.get_variations_train, "dev": self.env.get_variations_dev,
                 "test": self.env.get_variations_test}[split]())
        return self._variations[(task, split)]

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[str, Info]:
        """options: `task` (a task name), `split`, and `task_index` (into the split's
        variations) or `variation` (a variation number); else a seeded draw from the split."""
        options = dict(options or {})
        if seed is not None:
            self._rng = random.Random(seed)
        task = self._check_task(options.pop("task", self.task))
        split = options.pop("split", self.split)
        if split not in SPLITS:
            raise EnvError(f"unknown split {split!r}; choose from {', '.join(SPLITS)}")
        variation = options.pop("variation", None)
        index = options.pop("task_index", None)
        if options:
            raise EnvError(f"unknown reset options: {', '.join(sorted(options))}")
        if variation is None:
            pool = self.variations(task, split)
            if index is not None and not 0 <= index < len(pool):
                raise EnvError(f"task_index {index} is outside {task}/{split} (0..{len(pool) - 1})")
            variation = pool[index] if index is not None else self._rng.choice(pool)
        self.env.load(task, variation, self.simplification)
        observation, info = self.env.reset()
        self._task_id = f"{task}/{variation}"
        self._task_text = self.env.get_task_description()
        self._score = info["score"]
        self._observation = observation
        self._valid = sorted(info["valid"])
        return observation, self._info(False)

    def step(self, action: str) -> StepResult:
        action = action.strip()
        if action not in self._valid:
            return self._observation, 0.0, False, False, self._info(True)
        observation, _, done, info = self.env.step(action)
        reward = (info["score"] - self._score) / 100
        self._score = info["score"]
        self._observation = observation
        self._valid = sorted(info["valid"])
        return observation, reward, bool(done), False, self._info(False)

    def close(self) -> None:
        self.env.close()

    def _info(self, invalid: bool) -> Info:
        return {"task": self._task_text, "task_id": self._task_id, "available_actions": list(self._valid),
                "invalid_action": invalid, "score": self._score / 100}
