"""Environments by name: `make_env("webshop-mini", split="test")`, `list_envs()`.

Every environment comes back behind `StepLimit` (or Gymnasium's TimeLimit for `gym:`), so
`max_steps` means the same everywhere: the step budget after which `truncated` is set.
Left unset it is the environment's usual budget: 15 for WebShop as in the paper, 100 for
ScienceWorld (its own default), Gymnasium's registered limit for `gym:`.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from rememberer_tui.envs.base import EnvError, StepLimit, TextEnv

def _webshop_mini(split: str = "train", max_products: int | None = 3, data: str | None = None) -> TextEnv:
    from rememberer_tui.envs.webshop_mini import make_webshop_mini
    return make_webshop_mini(split=split, max_products=max_products, data=data)


def _webshop(url: str = "http://127.0.0.1:3000", split: str = "test", max_products: int | None = 3,
             timeout: float = 30.0) -> TextEnv:
    from rememberer_tui.envs.webshop import HttpSite, WebShopEnv, webshop_splits
    return WebShopEnv(HttpSite(url, timeout), webshop_splits(), split=split, max_products=max_products)


def _scienceworld(task: str | None = None, split: str = "train", simplification: str = "easy") -> TextEnv:
    from rememberer_tui.envs.scienceworld import ScienceWorldTextEnv
    return ScienceWorldTextEnv(task=task, split=split, simplification=simplification)


_FACTORIES: dict[str, tuple[Callable[..., TextEnv], int, str]] = {
    "webshop-mini": (_webshop_mini, 15, "the bundled WebShop-format shop: 341 products, 110 train / 50 test tasks"),
    "webshop": (_webshop, 15, "a running WebShop server (option url=...), the paper's text_rich pages"),
    "scienceworld": (_scienceworld, 100, "ScienceWorld tasks and variations (extra `scienceworld`, Java 17)"),
}


def list_envs() -> dict[str, str]:
    """Every environment name with a one-line description."""
    from rememberer_tui.envs.gym_text import supported_ids
    names = {name: about for name, (_, _, about) in _FACTORIES.items()}
    names.update({f"gym:{i}": "Gymnasium toy text, drawn as a text grid" for i in supported_ids()})
    return names


def make_env(name: str, *, max_steps: int | None = None, **options: Any) -> TextEnv:
    """Build environment `name` with its options; bad names or options raise EnvError."""
    if name.startswith("gym:"):
        from rememberer_tui.envs.gym_text import GymTextEnv
        return GymTextEnv(name.removeprefix("gym:"), max_steps=max_steps, **options)
    if name not in _FACTORIES:
        raise EnvError(f"unknown environment {name!r}; choose from {', '.join(list_envs())}")
    factory, default_steps, _ = _FACTORIES[name]
    unknown = set(options) - set(inspect.signature(factory).parameters)
    if unknown:
        raise EnvError(f"{name} has no option {', '.join(sorted(unknown))}")
    return StepLimit(factory(**options), max_steps or default_steps)
