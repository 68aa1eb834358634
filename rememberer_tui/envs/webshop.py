"""WebShop as a text environment: one navigator over any site that serves WebShop's pages.

The navigator keeps what WebShop's session keeps (search words, results page, product,
chosen options, products visited) and turns `search[...]` / `click[...]` into the next
page to show, exactly as WebShop's SimServer routes them; a `Site` serves that page as
HTML. `HttpSite` fetches it from a real WebShop Flask server (the paper's setup, URLs as
the app's routes build them); the bundled `webshop-mini` shop renders it locally. Either
way `webshop_text` turns the HTML into the observation, and the reward is read from the
page shown after `Buy Now`, so both shops reach the agent through the same code.

Tasks: `reset(seed=..., options={"split": ..., "task_index": i})` picks task i of a split;
without `task_index` the task is drawn from a generator seeded by `seed`.
"""

from __future__ import annotations

import random
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Protocol
from urllib.parse import quote

from rememberer_tui.envs.base import EnvError, Info, StepResult, is_available, parse_action
from rememberer_tui.envs.webshop_text import WebPage, read_page

SEARCH_ACTION = "search[<query>]"
SUB_PAGES = ("Description", "Features", "Reviews", "Attributes")
# The real WebShop splits its 12,087 human goals this way (baseline_models/env.py).
WEBSHOP_SPLITS = {"test": (0, 500), "eval": (500, 1500), "train": (1500, 12087)}


@dataclass(frozen=True)
class Location:
    """One page of a session: what WebShop encodes in its URLs."""

    kind: str  # "index" | "search" | "item" | "sub" | "done"
    keywords: tuple[str, ...] = ()
    page: int = 1
    asin: str = ""
    options: tuple[tuple[str, str], ...] = ()  # (group, value), in the order first chosen
    sub_page: str = ""


class Site(Protocol):
    def fetch(self, session: str, location: Location) -> str: ...


class HttpSite:
    """A running WebShop Flask app (web_agent_site/app.py), fetched with urllib."""

    def __init__(self, url: str, timeout: float = 30.0):
        self.url = url.rstrip("/")
        self.timeout = timeout

    def address(self, session: str, at: Location) -> str:
        # The app's routes and its url_for encoding: keywords a list, options a dict, as repr.
        words = quote(repr(list(at.keywords)), safe="")
        options = quote(repr(dict(at.options)), safe="")
        paths = {
            "index": f"{session}",
            "search": f"search_results/{session}/{words}/{at.page}",
            "item": f"item_page/{session}/{at.asin}/{words}/{at.page}/{options}",
            "sub": f"item_sub_page/{session}/{at.asin}/{words}/{at.page}/{at.sub_page}/{options}",
            "done": f"done/{session}/{at.asin}/{options}",
        }
        return f"{self.url}/{paths[at.kind]}"

    def fetch(self, session: str, location: Location) -> str:
        address = self.address(session, location)
        try:
            with urllib.request.urlopen(address, timeout=self.timeout) as response:
                return response.read().decode("utf-8")
        except urllib.error.HTTPError as exc:
            raise EnvError(f"WebShop answered {exc.code} for {address}") from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise EnvError(f"cannot reach WebShop at {self.url}: {reason}") from None


class WebShopEnv:
    """search[...] / click[...] over a WebShop site; terminated on Buy Now."""

    def __init__(self, site: Site, splits: Mapping[str, Sequence[str]], *, split: str = "train",
                 max_products: int | None = 3):
        if split not in splits:
            raise EnvError(f"unknown split {split!r}; choose from {', '.join(splits)}")
        self.site = site
        self.splits = splits
        self.split = split
        self.max_products = max_products
        self._rng = random.Random(0)
        self._session = ""
        self._task = ""
        self._at = Location("index")
        self._visited: list[str] = []
        self._page: WebPage | None = None
        self._over = True

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[str, Info]:
        options = dict(options or {})
        if seed is not None:
            self._rng = random.Random(seed)
        split = options.pop("split", self.split)
        if split not in self.splits:
            raise EnvError(f"unknown split {split!r}; choose from {', '.join(self.splits)}")
        sessions = self.splits[split]
        index = options.pop("task_index", None)
        if options:
            raise EnvError(f"unknown reset options: {', '.join(sorted(options))}")
        if index is None:
            index = self._rng.randrange(len(sessions))
        if not isinstance(index, int) or not 0 <= index < len(sessions):
            raise EnvError(f"task_index {index} is outside split {split!r} (0..{len(sessions) - 1})")
        self._session = sessions[index]
        self._show(Location("index"))
        self._over = False
        self._task = self._page.instruction or ""
        return self._page.observation, self._info()

    def step(self, action: str) -> StepResult:
        if self._over:
            raise EnvError("the episode is over: call reset()")
        verb, argument = parse_action(action)
        if verb == "click" and argument is not None:
            action = f"click[{argument.strip().lower()}]"  # WebShop matches clicks lower-cased
        target = self._resolve(action) if is_available(action, self.available_actions) else None
        if target is None:
            return self._page.observation, 0.0, False, False, self._info(invalid=True)
        self._show(target)
        if target.kind != "done":
            return self._page.observation, 0.0, False, False, self._info()
        self._over = True
        if self._page.reward is None:
            raise EnvError(f"the page after Buy Now shows no score (session {self._session})")
        return self._page.observation, self._page.reward, True, False, self._info()

    def close(self) -> None:
        pass

    @property
    def available_actions(self) -> list[str]:
        if self._over:
            return []
        actions = [SEARCH_ACTION] if self._page.has_search_bar else []
        return actions + [f"click[{key}]" for key in self._page.clickables if key != "search"]

    def _info(self, invalid: bool = False) -> Info:
        return {"task": self._task, "task_id": self._session,
                "available_actions": self.available_actions, "invalid_action": invalid}

    def _show(self, target: Location) -> None:
        if target.kind == "index":
            self._visited = []
        if target.kind == "item" and target.asin not in self._visited:
            self._visited.append(target.asin)
        html = self.site.fetch(self._session, target)
        self._page = read_page(html, selected=dict(target.options), visited=self._visited,
                               max_products=self.max_products)
        self._at = target

    def _resolve(self, action: str) -> Location | None:
        """The page an action leads to, as SimServer.receive routes it; None for a no-op."""
        verb, argument = parse_action(action)
        at = self._at
        if verb == "search":
            words = tuple(argument.lower().replace("/", " ").split())
            return Location("search", words, 1)
        target = self._page.clickables[argument]
        if target.kind == "product":
            return Location("item", at.keywords, at.page, target.text.upper())
        if target.kind == "option":
            chosen = dict(at.options)
            chosen[target.group] = target.text
            return replace(at, kind="item", options=tuple(chosen.items()))
        name = target.text.lower()
        if name == "buy now":
            return replace(at, kind="done")
        if name == "back to search":
            return Location("index")
        if name == "next >" and at.kind == "search":
            return replace(at, page=at.page + 1)
        if name in ("< prev", "< back to results", "< back to item page"):
            back = {"search": replace(at, page=at.page - 1), "item": Location("search", at.keywords, at.page),
                    "sub": replace(at, kind="item", sub_page="")}
            return back.get(at.kind)
        sub_page = next((s for s in SUB_PAGES if s.lower() == name), None)
        return replace(at, kind="sub", sub_page=sub_page) if sub_page else None


def webshop_splits() -> dict[str, list[str]]:
    """Session ids of the real WebShop's splits: the app serves goal i to session `fixed_i`."""
    return {name: [f"fixed_{i}" for i in range(lo, hi)] for name, (lo, hi) in WEBSHOP_SPLITS.items()}
