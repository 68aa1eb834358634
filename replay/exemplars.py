"""Exemplars (SPEC section 4): retrieved records shown to the LLM as worked examples, each
with the actions to encourage and to discourage, in the reference's prompt formats and
within a token budget.

For a record: *Encouraged* is its highest-Q action (the earliest added on a tie); if that Q
is <= 0 and random exemplars are on, a random available action valued in [0, 0.5) instead.
*Discouraged* are its actions with Q = 0 other than the encouraged one, in the order they
were added; if every Q > 0 and random exemplars are on, one random available action that
is not encouraged, valued 0 (with random off the section stays empty then). The available
actions of a record come from its observation: WebShop `click[x]` for each clickable,
WikiHow `SCROLL(LEFT|UP|RIGHT|DOWN)` and `CLICK(i)` for each screen element (as in the
reference), otherwise the record's own actions.

Randomness comes from one `random.Random` per prompt, seeded from sha256 of (run seed,
log position at which the memory was read), drawn exemplar by exemplar in ranking order:
the same query at the same position gives the same text in every process.

Prompt layout (the reference's): the preamble, then the exemplars with the best match last
(closest to the new input), each numbered by rank, then the new input. The budget counts
the whole prompt: exemplars are added best first while their tokens (+1 for the joining
newline) fit what the preamble and the new input leave; one that does not fit is skipped
and the next candidate tried, until `top` are in.

Templates are `string.Template` text files in replay/templates/; a directory given as
`templates` overrides any of them by file name.
"""

from __future__ import annotations

import hashlib
import random
import string
from collections.abc import Iterable, Sequence
from importlib import resources
from pathlib import Path

import attrs

from replay.index import RetrievalIndex
from replay.matchers import webshop_actions
from replay.pools import split_observation
from replay.retrieval import Retrieved, ranked
from replay.state import Record
from replay.tokens import TokenCounter

FORMATS = ("webshop", "wikihow", "generic")
MEMORY_MODES = ("memory", "static", "none")
SCROLLS = ("LEFT", "UP", "RIGHT", "DOWN")
LAST_ACTIONS = 5


def _one_of(choices: tuple[str, ...]):
    def check(instance, attribute, value) -> None:
        if value not in choices:
            raise ValueError(f"{attribute.name} must be one of {', '.join(choices)}, got {value!r}")
    return check


def _positive(instance, attribute, value) -> None:
    if value < 1:
        raise ValueError(f"{attribute.name} must be >= 1, got {value}")


@attrs.frozen
class ExemplarOptions:
    """How exemplars are made; the flags are SPEC section 4's ablation switches
    (`memory`: exemplars from the memory, `static` fixed ones, `none` no exemplars)."""

    format: str = attrs.field(default="generic", validator=_one_of(FORMATS))
    top: int = attrs.field(default=2, validator=_positive)
    budget: int = attrs.field(default=3700, validator=_positive)
    random_actions: bool = True
    discouraged: bool = True
    memory: str = attrs.field(default="memory", validator=_one_of(MEMORY_MODES))
    templates: Path | None = None


@attrs.frozen
class Advice:
    action: str
    value: float
    reason: str = ""

    def line(self) -> str:
        return f"{self.action} -> {self.value:.1f}" + (f" {self.reason}" if self.reason else "")


@attrs.frozen
class Exemplar:
    retrieved: Retrieved
    encouraged: tuple[Advice, ...]
    discouraged: tuple[Advice, ...]
    text: str
    tokens: int


@attrs.frozen
class Prompt:
    """The exact text the LLM gets, and what went into it."""

    text: str
    new_input: str
    exemplars: tuple[Exemplar, ...]
    tokens: int
    warning: str = ""  # the token counter's, when it estimates


class Templates:
    """The templates of one format; a file in `directory` wins over the packaged one."""

    def __init__(self, format: str, directory: Path | None = None):
        self.format = format
        self.directory = Path(directory) if directory else None

    def text(self, name: str) -> str:
        if self.directory is not None and (self.directory / name).is_file():
            return (self.directory / name).read_text(encoding="utf-8")
        return resources.files("replay").joinpath("templates", name).read_text(encoding="utf-8")

    def get(self, name: str) -> string.Template:
        return string.Template(self.text(name))

    @property
    def input(self) -> string.Template:
        return self.get(f"{self.format}_input.txt")

    @property
    def prompt(self) -> string.Template:
        return self.get(f"{self.format}_prompt.txt")

    def advice(self, discouraged: bool) -> string.Template:
        return self.get("advice.txt" if discouraged else "advice_nodis.txt")

    @property
    def static(self) -> str:
        return self.text(f"{self.format}_static.txt")


def exemplar_rng(seed: int, position: int) -> random.Random:
    """The generator of one prompt's random advice: a pure function of (seed, position)
    (Python's `hash()` of a string is salted per process, so it is not used)."""
    digest = hashlib.sha256(f"rememberer-exemplars/{seed}/{position}".encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


# --------------------------------------------------------------------------- advice


def action_options(format: str, record: Record) -> list[tuple[str, str]]:
    """(action, reason) pairs available in the record's state, for random advice."""
    if format == "webshop":
        return [(f"click[{a}]", "") for a in webshop_actions(record.observation)]
    if format == "wikihow":
        elements = split_observation("wikihow", record.observation)[0].splitlines()
        return [(f"SCROLL({d})", "") for d in SCROLLS] + [
            (f"CLICK({i})", element.strip()) for i, element in enumerate(elements)]
    return [(action, stats.reason) for action, stats in record.actions.items()]


def advise(record: Record, rng: random.Random, options: ExemplarOptions) -> tuple[tuple[Advice, ...], tuple[Advice, ...]]:
    """(encouraged, discouraged) advice for one record (see the module docstring)."""
    actions = list(record.actions.items())
    if not actions:
        return (), ()
    best_action, best = max(actions, key=lambda item: item[1].q)  # max keeps the first of equals
    encouraged: tuple[Advice, ...] = (Advice(best_action, best.q, best.reason),)
    if best.q <= 0 and options.random_actions:
        choices = action_options(options.format, record)
        if choices:
            action, reason = choices[rng.randrange(len(choices))]
            encouraged = (Advice(action, rng.random() / 2, reason),)
    if not options.discouraged:
        return encouraged, ()
    chosen = {a.action for a in encouraged}
    discouraged = tuple(Advice(a, s.q, s.reason) for a, s in actions if s.q == 0 and a not in chosen)
    if not discouraged and all(s.q > 0 for _, s in actions) and options.random_actions:
        choices = [c for c in action_options(options.format, record) if c[0] not in chosen]
        if choices:
            action, reason = choices[rng.randrange(len(choices))]
            discouraged = (Advice(action, 0.0, reason),)
    return encouraged, discouraged


# --------------------------------------------------------------------------- rendering


def _history(format: str, history: Iterable[Sequence[str]]) -> str:
    last = list(history)[-LAST_ACTIONS:]
    if format == "wikihow":
        return "\n".join(" ".join(part for part in step if part) for step in last)
    return "\n".join(f"- {step[0]}" for step in last)


def render_input(templates: Templates, *, task: str, observation: str, history: Iterable[Sequence[str]] = (),
                 reward: float = 0.0, total_reward: float = 0.0,
                 available_actions: Sequence[str] | None = None) -> str:
    """One input block in the format's layout: an exemplar's, or the new input's.
    `history` holds (action, reason) steps; `available_actions` defaults to what the
    observation shows (WebShop) or stays empty."""
    format = templates.format
    fields = {"task": task, "actions": _history(format, history),
              "reward": f"{reward:.1f}", "total_reward": f"{total_reward:.1f}"}
    if format == "webshop":
        page = split_observation("webshop", observation)[0]
        if available_actions is None:
            available_actions = webshop_actions(observation)
        fields["observation"] = "\n".join("  " + line for line in page.splitlines())
    elif format == "wikihow":
        fields["screen"], fields["instruction"] = split_observation("wikihow", observation)
    else:
        fields["observation"] = observation
    fields["available_actions"] = "\n".join(f"- {a}" for a in available_actions or ())
    return templates.input.safe_substitute(fields)


def render_exemplar(number: int, record: Record, encouraged: Sequence[Advice], discouraged: Sequence[Advice],
                    templates: Templates, options: ExemplarOptions) -> str:
    own_actions = list(record.actions) if templates.format == "generic" else None
    block = render_input(templates, task=record.task, observation=record.observation,
                         history=record.action_history, reward=record.last_reward,
                         total_reward=record.total_reward, available_actions=own_actions)
    advice = templates.advice(options.discouraged).safe_substitute(
        encouraged="\n".join(a.line() for a in encouraged),
        discouraged="\n".join(a.line() for a in discouraged))
    return f"Example {number}:\n\n{block}\n{advice}"


def build_prompt(index: RetrievalIndex | None, task: str, observation: str, *, seed: int, position: int,
                 options: ExemplarOptions = ExemplarOptions(), counter: TokenCounter | None = None,
                 history: Iterable[Sequence[str]] = (), reward: float = 0.0, total_reward: float = 0.0,
                 available_actions: Sequence[str] | None = None) -> Prompt:
    """The prompt for the query (task, observation) with exemplars from `index` (unused
    unless `options.memory` is "memory"), at log `position` of a run seeded `seed`."""
    counter = counter or TokenCounter()
    templates = Templates(options.format, options.templates)
    new_input = render_input(templates, task=task, observation=observation, history=history, reward=reward,
                             total_reward=total_reward, available_actions=available_actions)
    exemplars: list[Exemplar] = []
    if options.memory == "static":
        examples = templates.static.strip()
    elif options.memory == "none" or index is None:
        examples = ""
    else:
        rng = exemplar_rng(seed, position)
        room = options.budget - counter.count(templates.prompt.safe_substitute(examples="", new_input=new_input))
        for retrieved in ranked(index, task, observation, options.top):
            encouraged, discouraged = advise(retrieved.record, rng, options)
            text = render_exemplar(len(exemplars) + 1, retrieved.record, encouraged, discouraged, templates, options)
            tokens = counter.count(text) + 1
            if tokens <= room:
                exemplars.append(Exemplar(retrieved, encouraged, discouraged, text, tokens))
                room -= tokens
                if len(exemplars) == options.top:
                    break
        examples = "\n".join(e.text for e in reversed(exemplars)).strip()
    text = templates.prompt.safe_substitute(examples=examples, new_input=new_input)
    return Prompt(text, new_input, tuple(exemplars), counter.count(text), counter.warning)
