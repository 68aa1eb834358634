"""LCS over the element tags of an HTML-like screen (one element a line, `<div ...>`).

Similarity = LCS length / max(len1, len2) of the two tag sequences (1.0 for two screens
without elements, as for any two equal sequences). Lines that do not open an element (text,
closing tags, a composed observation's instruction) are not part of the sequence.

For speed each distinct tag is encoded as one character, so a screen becomes a short
string and rapidfuzz's bit-parallel `LCSseq` compares two screens in about a microsecond;
the first 223 tags get 8-bit code points, on which rapidfuzz runs about twice as fast as
on wider ones (measured), the rest continue above. The alphabet belongs to the matcher
(one per index), so codes are stable for its lifetime.
"""

from __future__ import annotations

import re
from collections.abc import Hashable, Sequence

import numpy as np
from rapidfuzz import process
from rapidfuzz.distance import LCSseq

from replay.matchers.base import FeatureTable, Matcher

# An element opens a line. Searching for "\n" first is twice as fast as a MULTILINE "^".
FIRST_TAG = re.compile(r"[ \t]*<([A-Za-z][A-Za-z0-9-]*)")
NEXT_TAG = re.compile(r"\n[ \t]*<([A-Za-z][A-Za-z0-9-]*)")
FIRST_CODE = 0x21


def _raw_tags(screen: str) -> list[str]:
    first = FIRST_TAG.match(screen)
    found = NEXT_TAG.findall(screen)
    return [first.group(1), *found] if first else found


def tags(screen: str) -> list[str]:
    """The element names of a screen, in order, lower-cased."""
    return [t.lower() for t in _raw_tags(screen)]


def _code_point(index: int) -> int:
    code = FIRST_CODE + index
    return code + 0x800 if code >= 0xD800 else code  # skip the surrogate block


def lcs_ratio(lcs: int, len1: int, len2: int) -> float:
    longest = max(len1, len2)
    return lcs / longest if longest else 1.0


class LcsTable(FeatureTable):
    def __init__(self) -> None:
        super().__init__()
        self.strings: list[str] = []
        self._lengths = np.zeros(0, dtype=np.int64)  # of strings[:len(_lengths)], caught up lazily

    def _append(self, feature: Hashable) -> None:
        self.strings.append(feature)

    def lengths(self) -> np.ndarray:
        """The length of every slot's string (caught up lazily: appends stay cheap)."""
        if len(self._lengths) < len(self.strings):
            tail = np.fromiter(map(len, self.strings[len(self._lengths):]), dtype=np.int64)
            self._lengths = np.concatenate([self._lengths, tail])
        return self._lengths

    def scores(self, feature: Hashable, slots: np.ndarray | None = None) -> np.ndarray:
        strings = self.strings if slots is None else [self.strings[s] for s in slots]
        if not strings:
            return np.zeros(0)
        lengths = self.lengths() if slots is None else self.lengths()[slots]
        lcs = process.cdist([feature], strings, scorer=LCSseq.similarity, dtype=np.int64, workers=1)[0]
        return _ratios(lcs, np.maximum(lengths, len(feature)))

    def bounds(self, feature: Hashable) -> np.ndarray:
        """LCS <= the shorter length, so the ratio <= shorter / longer."""
        lengths = self.lengths()
        return _ratios(np.minimum(lengths, len(feature)), np.maximum(lengths, len(feature)))


def _ratios(numerators: np.ndarray, longest: np.ndarray) -> np.ndarray:
    out = np.ones(len(longest))
    np.divide(numerators, longest, out=out, where=longest > 0)
    return out


class LcsMatcher(Matcher):
    name = "lcs"

    def __init__(self, field: str | None = None):
        super().__init__(field)
        self._codes: dict[str, str] = {}  # lower-case tag -> its character
        self._spelled: dict[str, str] = {}  # tag as written -> its character

    def _char(self, tag: str) -> str:
        name = tag.lower()
        if name not in self._codes:
            self._codes[name] = chr(_code_point(len(self._codes)))
        char = self._spelled[tag] = self._codes[name]
        return char

    def encode(self, screen: str) -> str:
        """The screen's tag sequence as a string, one character per tag."""
        found = _raw_tags(screen)
        try:
            return "".join(map(self._spelled.__getitem__, found))
        except KeyError:
            return "".join(self._spelled.get(tag) or self._char(tag) for tag in found)

    def features(self, texts: Sequence[str]) -> list[Hashable]:
        return [self.encode(t) for t in texts]

    def similarity(self, a: Hashable, b: Hashable) -> float:
        return lcs_ratio(LCSseq.similarity(a, b), len(a), len(b))

    def new_table(self) -> FeatureTable:
        return LcsTable()
