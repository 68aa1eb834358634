"""Page-kind matchers: similarity by what kind of page or step an observation is.

WebShop page pattern (the reference's `PagePatMatcher`): the kind comes from the page's
available actions, i.e. the observation's "Available Actions:" part (replay.pools'
composition) or, for a bare text_rich page, its bracketed clickables (`[Buy Now]`):
  search  - `search` is available;
  results - product ids (`b0...` ASINs) are available;
  item    - `buy now` is available;
  other   - a description / features / reviews sub-page: `< prev` without the above.
Similarity 1 for the same kind, 0.3 between item and other, else 0. The reference demands
exactly these actions in exactly these places (so a second results page, which adds
`< prev`, is "unknown" there); here the rules above apply in that order.

WikiHow instruction pattern (the reference's `InsPatMatcher`): the kind of the step
instruction, the observation's "Instruction:" part: search (empty: the first step),
article ("Access the article ..."), author ("Check the author page ..."), category
("Access the page of category ..."), reference ("Check the reference list ..."), about
("Access the about page ..."), with the reference's fixed similarity matrix below. The
reference never recognises "Check the reference list" (it tests the wrong prefix); here it
is recognised.

An observation of no known kind scores 0 against everything, itself included.
"""

from __future__ import annotations

import re
from collections.abc import Hashable, Sequence

import numpy as np

from replay.matchers.base import FeatureTable, Matcher
from replay.pools import split_observation

UNKNOWN = -1


def _extended(matrix: list[list[float]]) -> np.ndarray:
    """The matrix with a last row and column of zeros, so code -1 (unknown) indexes them."""
    size = len(matrix)
    out = np.zeros((size + 1, size + 1))
    out[:size, :size] = matrix
    return out


class PatternTable(FeatureTable):
    def __init__(self, matrix: np.ndarray) -> None:
        super().__init__()
        self.matrix = matrix
        self.codes: list[int] = []

    def _append(self, feature: Hashable) -> None:
        self.codes.append(feature)

    def scores(self, feature: Hashable, slots: np.ndarray | None = None) -> np.ndarray:
        codes = np.asarray(self.codes, dtype=np.intp)
        return self.matrix[feature, codes if slots is None else codes[slots]]


class PatternMatcher(Matcher):
    """A matcher whose feature is a kind code, compared through a fixed matrix."""

    kinds: tuple[str, ...] = ()
    matrix: np.ndarray

    def kind(self, observation: str) -> int:
        raise NotImplementedError

    def kind_name(self, observation: str) -> str:
        code = self.kind(observation)
        return "unknown" if code == UNKNOWN else self.kinds[code]

    def features(self, texts: Sequence[str]) -> list[Hashable]:
        return [self.kind(t) for t in texts]

    def similarity(self, a: Hashable, b: Hashable) -> float:
        return float(self.matrix[a, b])

    def new_table(self) -> FeatureTable:
        return PatternTable(self.matrix)


PRODUCT_ID = re.compile(r"b0\d[0-9a-z]{7}|\d{9}[0-9x]")
CLICKABLE = re.compile(r"\[([^\[\]\n]+)\]")


def webshop_actions(observation: str) -> list[str]:
    """The available actions (click targets, lower case) of a WebShop observation."""
    page, actions = split_observation("webshop", observation)
    if actions:
        return [a.strip() for a in actions.splitlines() if a.strip()]
    return [a.strip().lower() for a in CLICKABLE.findall(page)]


class WebShopPageMatcher(PatternMatcher):
    name = "webshop-page"
    kinds = ("search", "results", "item", "other")
    matrix = _extended([
        [1.0, 0.0, 0.0, 0.0],
        [0.0, 1.0, 0.0, 0.0],
        [0.0, 0.0, 1.0, 0.3],
        [0.0, 0.0, 0.3, 1.0],
    ])

    def kind(self, observation: str) -> int:
        actions = webshop_actions(observation)
        if "search" in actions:
            return 0
        if any(PRODUCT_ID.fullmatch(a) for a in actions):
            return 1
        if "buy now" in actions:
            return 2
        if "< prev" in actions:
            return 3
        return UNKNOWN


INSTRUCTION_KINDS = (
    ("Access the article", 1),
    ("Check the author page", 2),
    ("Access the page of category", 3),
    ("Check the reference list", 4),
    ("Access the about page", 5),
)


class WikiHowInstructionMatcher(PatternMatcher):
    name = "wikihow-instruction"
    kinds = ("search", "article", "author", "category", "reference", "about")
    matrix = _extended([
        [1.0, 0.1, 0.0, 0.0, 0.0, 0.0],
        [0.1, 1.0, 0.3, 0.3, 0.0, 0.0],
        [0.0, 0.3, 1.0, 0.8, 0.3, 0.3],
        [0.0, 0.3, 0.8, 1.0, 0.3, 0.3],
        [0.0, 0.0, 0.3, 0.3, 1.0, 0.8],
        [0.0, 0.0, 0.3, 0.3, 0.8, 1.0],
    ])

    def kind(self, observation: str) -> int:
        instruction = split_observation("wikihow", observation)[1].strip()
        if not instruction:
            return 0
        for prefix, code in INSTRUCTION_KINDS:
            if instruction.startswith(prefix):
                return code
        return UNKNOWN
