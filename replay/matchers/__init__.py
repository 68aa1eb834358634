"""Matchers of SPEC section 4: similarity of a query (task, observation) to a record.

Each matcher scores one pair (`score`) or one query against many records (`scores`, a
numpy array); `MatcherConfig` says which matchers a run combines and with what weights.
"""

from __future__ import annotations

from replay.matchers.base import FeatureTable, Matcher, Query, Texts
from replay.matchers.config import (
    ABLATIONS,
    CombinedMatcher,
    MatcherConfig,
    MatcherConfigError,
    canonical,
)
from replay.matchers.embedding import EmbeddingMatcher
from replay.matchers.fuzzy import FuzzyMatcher
from replay.matchers.lcs import LcsMatcher, tags
from replay.matchers.patterns import WebShopPageMatcher, WikiHowInstructionMatcher, webshop_actions

__all__ = [
    "ABLATIONS", "CombinedMatcher", "EmbeddingMatcher", "FeatureTable", "FuzzyMatcher", "LcsMatcher",
    "Matcher", "MatcherConfig", "MatcherConfigError", "Query", "Texts", "WebShopPageMatcher",
    "WikiHowInstructionMatcher", "canonical", "tags", "webshop_actions",
]
