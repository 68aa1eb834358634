"""Which matchers a run uses and how much each weighs: `s = sum_k w_k f_k`, weights summing
to 1 (the paper's `lambda f_g(task) + (1 - lambda) f_o(observation)` is the two-term case).

A `MatcherConfig` is what `RunStarted.matcher` stores. Matcher names: `embedding[:MODEL]`
(default all-MiniLM-L6-v2; any sentence-transformers model by name), `lcs`, `fuzzy`,
`webshop-page`, `wikihow-instruction`; each reads its default text (task for embeddings,
observation for the others) unless suffixed `@task` or `@observation`. Serialised form:
  {"task": "embedding:all-MiniLM-L6-v2", "observation": "lcs", "task_weight": 0.5}
when there is at most one matcher per text (the slot names the text it reads), else
  {"terms": [{"matcher": "lcs", "weight": 0.5}, {"matcher": "wikihow-instruction", "weight": 0.5}]}.
An empty dict means the default config.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import attrs

from replay.embeddings import DEFAULT_MODEL, Embedder, model_key
from replay.matchers.base import FIELDS, Matcher, Texts
from replay.matchers.embedding import EmbeddingMatcher
from replay.matchers.fuzzy import FuzzyMatcher
from replay.matchers.lcs import LcsMatcher
from replay.matchers.patterns import WebShopPageMatcher, WikiHowInstructionMatcher
from store.events import EventValidationError

SIMPLE: dict[str, type[Matcher]] = {
    cls.name: cls for cls in (LcsMatcher, FuzzyMatcher, WebShopPageMatcher, WikiHowInstructionMatcher)
}
EMBEDDING = "embedding"
DEFAULT_EMBEDDING = f"{EMBEDDING}:{DEFAULT_MODEL}"
ABLATIONS = ("combined", "task-only", "observation-only")


class MatcherConfigError(EventValidationError):
    """A matcher config that names an unknown matcher or whose weights do not sum to 1."""


def _parse(name: str) -> tuple[str, str, str]:
    """(matcher, model or '', field) of a matcher name."""
    if not isinstance(name, str):
        raise MatcherConfigError(f"a matcher name must be a string, got {name!r}")
    base, _, field = name.partition("@")
    base, _, model = base.partition(":")
    if base == EMBEDDING:
        return base, model_key(model or DEFAULT_MODEL), field or "task"
    if base not in SIMPLE or model:
        known = ", ".join([f"{EMBEDDING}[:MODEL]", *SIMPLE])
        raise MatcherConfigError(f"unknown matcher {name!r}; known: {known} (suffix @task/@observation)")
    field = field or SIMPLE[base].default_field
    if field not in FIELDS:
        raise MatcherConfigError(f"matcher {name!r}: the text must be @task or @observation")
    return base, model, field


def canonical(name: str, field: str | None = None) -> str:
    """The name with the model spelled out and the field suffix only where not the default."""
    base, model, parsed_field = _parse(name)
    field = field or parsed_field
    default = "task" if base == EMBEDDING else SIMPLE[base].default_field
    text = f"{base}:{model}" if model else base
    return text if field == default else f"{text}@{field}"


def field_of(name: str) -> str:
    return _parse(name)[2]


def _terms(value) -> tuple[tuple[str, float], ...]:
    terms = []
    for name, weight in value:
        if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not math.isfinite(weight) or weight < 0:
            raise MatcherConfigError(f"the weight of {name!r} must be a number >= 0, got {weight!r}")
        if weight > 0:
            terms.append((canonical(name), float(weight)))
    if not terms:
        raise MatcherConfigError("a matcher config needs at least one matcher with a weight > 0")
    names = [n for n, _ in terms]
    if len(set(names)) != len(names):
        raise MatcherConfigError(f"a matcher appears twice in {', '.join(names)}")
    total = math.fsum(w for _, w in terms)
    if abs(total - 1.0) > 1e-9:
        raise MatcherConfigError(f"matcher weights must sum to 1, got {total!r}")
    return tuple(terms)


@attrs.frozen
class MatcherConfig:
    """(matcher name, weight) terms; zero weights are dropped, names made canonical."""

    terms: tuple[tuple[str, float], ...] = attrs.field(
        default=((DEFAULT_EMBEDDING, 0.5), ("lcs", 0.5)), converter=_terms)

    @classmethod
    def paper(cls, task: str | None = EMBEDDING, observation: str | None = "lcs",
              task_weight: float = 0.5) -> MatcherConfig:
        """lambda f_g(task) + (1 - lambda) f_o(observation); a slot left None weighs 0."""
        terms = []
        if task is not None:
            terms.append((canonical(task, "task"), task_weight))
        if observation is not None:
            terms.append((canonical(observation, "observation"), 1.0 - task_weight))
        return cls(terms)

    @classmethod
    def preset(cls, format: str) -> MatcherConfig:
        """The default for an environment format: WebShop pages by kind, WikiHow screens by
        tag LCS and step kind (the reference's lcs+inspat), plain text by fuzzy ratio."""
        if format == "webshop":
            return cls(((DEFAULT_EMBEDDING, 0.5), ("webshop-page", 0.5)))
        if format == "wikihow":
            return cls(((DEFAULT_EMBEDDING, 0.5), ("lcs", 0.25), ("wikihow-instruction", 0.25)))
        return cls(((DEFAULT_EMBEDDING, 0.5), ("fuzzy", 0.5)))

    @classmethod
    def from_dict(cls, data: dict) -> MatcherConfig:
        if not isinstance(data, dict):
            raise MatcherConfigError(f"a matcher config is a JSON object, got {data!r}")
        if not data:
            return cls()
        if "terms" in data:
            if set(data) != {"terms"} or not isinstance(data["terms"], list):
                raise MatcherConfigError('a "terms" matcher config holds only a list of terms')
            try:
                return cls(tuple((t["matcher"], t["weight"]) for t in data["terms"]))
            except (KeyError, TypeError):
                raise MatcherConfigError('each term is {"matcher": NAME, "weight": W}') from None
        unknown = set(data) - {"task", "observation", "task_weight"}
        if unknown:
            raise MatcherConfigError(f"unknown matcher config key(s): {', '.join(sorted(unknown))}")
        task, observation = data.get("task"), data.get("observation")
        weight = data.get("task_weight", 0.5 if task and observation else 1.0 if task else 0.0)
        if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not 0.0 <= weight <= 1.0:
            raise MatcherConfigError(f"task_weight must be a number in [0, 1], got {weight!r}")
        return cls.paper(task, observation, weight)

    def to_dict(self) -> dict:
        fields = [field_of(n) for n, _ in self.terms]
        if fields in (["task"], ["observation"], ["task", "observation"]):
            slots = {f: _parse(n) for f, (n, _) in zip(fields, self.terms)}
            named = {f: (f"{b}:{m}" if m else b) for f, (b, m, _) in slots.items()}
            weight = dict(zip(fields, (w for _, w in self.terms))).get("task", 0.0)
            return {"task": named.get("task"), "observation": named.get("observation"), "task_weight": weight}
        return {"terms": [{"matcher": n, "weight": w} for n, w in self.terms]}

    def ablate(self, mode: str) -> MatcherConfig:
        """SPEC section 4's similarity ablations: `task-only` or `observation-only` keep the
        terms reading that text (weights renormalised); `combined` is the config itself."""
        if mode == "combined":
            return self
        if mode not in ABLATIONS:
            raise MatcherConfigError(f"similarity must be one of {', '.join(ABLATIONS)}, got {mode!r}")
        field = mode.removesuffix("-only")
        kept = [(n, w) for n, w in self.terms if field_of(n) == field]
        if not kept:
            raise MatcherConfigError(f"{mode}: the matcher config has no matcher reading the {field}")
        total = math.fsum(w for _, w in kept)
        return MatcherConfig(tuple((n, w / total) for n, w in kept))

    @property
    def models(self) -> list[str]:
        """The embedding models the config needs."""
        return sorted({m for b, m, _ in map(_parse, (n for n, _ in self.terms)) if b == EMBEDDING})

    def build(self, embedder: Callable[[str], Embedder] | None = None) -> CombinedMatcher:
        """The matchers, with `embedder(model)` giving the Embedder of each model (default:
        one in-memory Embedder per model, nothing stored)."""
        embedders: dict[str, Embedder] = {}

        def get(model: str) -> Embedder:
            if model not in embedders:
                embedders[model] = embedder(model) if embedder else Embedder(model)
            return embedders[model]

        matchers = []
        for name, weight in self.terms:
            base, model, field = _parse(name)
            matcher = EmbeddingMatcher(get(model), field) if base == EMBEDDING else SIMPLE[base](field)
            matchers.append((name, matcher, weight))
        return CombinedMatcher(self, matchers)


class CombinedMatcher:
    """The weighted sum of a config's matchers, each under its config name."""

    def __init__(self, config: MatcherConfig, terms: list[tuple[str, Matcher, float]]):
        self.config = config
        self.terms = terms

    @property
    def names(self) -> list[str]:
        return [name for name, _, _ in self.terms]

    def score(self, query: Texts, record: Texts) -> float:
        """sum_k w_k f_k, summed in the config's order (the batch path sums the same way)."""
        total = 0.0
        for name, matcher, weight in self.terms:
            total += weight * matcher.score(query, record)
        return total
