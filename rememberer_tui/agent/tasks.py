"""Task sets: which tasks of an environment's split a run trains or tests on.

A SPEC is a range `A:B` of task indices (B excluded; either side may be left out) or a
comma-separated list of task ids. Environments without splits (Gymnasium toy text) have
one task per seed index: `0:10` means seeds 0..9.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import attrs


class TaskSpecError(ValueError):
    pass


@attrs.frozen
class Task:
    index: int
    task_id: str
    split: str

    def reset_options(self, env: Any) -> dict:
        """Options for `env.reset`; a "seed" entry is the reset seed (envs without splits)."""
        return {"split": self.split, "task_index": self.index} if _splits(env) else {"seed": self.index}


def _splits(env: Any) -> dict[str, Sequence[str]] | None:
    splits = getattr(env, "splits", None)
    return splits if isinstance(splits, dict) else None


def task_ids(env: Any, split: str) -> Sequence[str] | None:
    splits = _splits(env)
    if splits is None:
        return None
    if split not in splits:
        raise TaskSpecError(f"the environment has no {split!r} split (it has {', '.join(splits)})")
    return splits[split]


def parse_tasks(spec: str, env: Any, split: str) -> list[Task]:
    ids = task_ids(env, split)
    spec = spec.strip()
    if ":" in spec:
        start_text, _, stop_text = spec.partition(":")
        try:
            start = int(start_text) if start_text.strip() else 0
            stop = int(stop_text) if stop_text.strip() else (len(ids) if ids is not None else None)
        except ValueError:
            raise TaskSpecError(f"task range {spec!r} must be A:B with whole numbers") from None
        if stop is None:
            raise TaskSpecError(f"task range {spec!r} needs an end: this environment has no task list")
        if start < 0 or stop <= start:
            raise TaskSpecError(f"task range {spec!r} is empty or negative")
        if ids is not None and stop > len(ids):
            raise TaskSpecError(f"task range {spec!r} goes past the {len(ids)} tasks of split {split!r}")
        return [Task(i, ids[i] if ids is not None else f"seed-{i}", split) for i in range(start, stop)]
    wanted = [part.strip() for part in spec.split(",") if part.strip()]
    if not wanted:
        raise TaskSpecError("a task SPEC is A:B or a comma-separated list of task ids")
    if ids is None:
        raise TaskSpecError("this environment has no task ids: give a range A:B of seeds")
    position = {task_id: i for i, task_id in enumerate(ids)}
    unknown = [w for w in wanted if w not in position]
    if unknown:
        raise TaskSpecError(f"unknown task id(s) in split {split!r}: {', '.join(unknown)} "
                            f"(ids look like {ids[0]!r})")
    return [Task(position[w], w, split) for w in wanted]
