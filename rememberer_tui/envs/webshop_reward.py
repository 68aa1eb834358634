"""WebShop's purchase reward (web_agent_site/engine/goal.py `get_reward`), deterministic.

    reward = r_type * (attribute matches + option matches + [price <= bound])
                    / (goal attributes + goal options + 1)

as WebShop computes it: an attribute matches when a product attribute has a fuzzy
token-set ratio above 85 with it or it occurs in the title, features or description; a
chosen option matches a goal option exactly for `size`, by the same fuzzy ratio otherwise,
or by occurring in those texts. r_type is 1 when the product type fits (same search
query, two shared category levels, or title overlap above 0.2), 0.5 when it does not, 0.1
under 0.1 title overlap and 0 with none. Two deliberate departures: the title overlap
counts content words (stopwords and numbers dropped) where WebShop counted spaCy nouns,
since a 600 MB language model is no dependency for a toy shop; and option matches are
capped at the number of goal options, so the reward stays within [0, 1].
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from rapidfuzz import fuzz

EXACT_MATCH_OPTIONS = ("size",)
FUZZY_THRESHOLD = 85
STOPWORDS = frozenset("""
a an and are as at be by for from in into is it its of on or the this that to with without
your you our we my i me all any each per more most new no not only over so than too very
""".split())


def title_words(title: str) -> set[str]:
    """The content words of a title: lower-case alphabetic words that are not stopwords."""
    return {w for w in re.findall(r"[a-z]+", title.lower()) if len(w) > 1 and w not in STOPWORDS}


def _texts(product: Mapping[str, Any]) -> tuple[str, str, str]:
    return (product["Title"].lower(), " ".join(product["BulletPoints"]).lower(),
            product["Description"].lower())


def type_reward(product: Mapping[str, Any], goal: Mapping[str, Any]) -> dict[str, Any]:
    query_match = product["query"] == goal["query"]
    product_levels = {x.strip() for x in product["product_category"].split("›")}
    goal_levels = {x.strip() for x in goal["product_category"].split("›")}
    category_match = len(product_levels & goal_levels) >= 2
    wanted = title_words(goal["name"])
    title_score = 0.2 if not wanted else len(title_words(product["Title"]) & wanted) / len(wanted)
    r_type = 1.0
    if not (query_match or category_match or title_score > 0.2):
        r_type = 0.5
    if title_score < 0.1:
        r_type = 0.1
    if title_score == 0.0:
        r_type = 0.0
    return {"r_type": r_type, "query_match": query_match, "category_match": category_match,
            "title_score": title_score}


def attribute_matches(product: Mapping[str, Any], goal_attributes: Sequence[str]) -> int:
    texts = _texts(product)
    return sum(
        1 for wanted in goal_attributes
        if any(fuzz.token_set_ratio(have, wanted) > FUZZY_THRESHOLD for have in product["Attributes"])
        or any(wanted in text for text in texts)
    )


def option_matches(product: Mapping[str, Any], goal_options: Sequence[str],
                   chosen: Mapping[str, str]) -> int:
    texts = _texts(product)
    count = 0
    for name, value in chosen.items():
        if name.lower() in EXACT_MATCH_OPTIONS:
            matched = value in goal_options
        else:
            matched = any(fuzz.token_set_ratio(wanted, value) > FUZZY_THRESHOLD for wanted in goal_options)
        if matched or any(value in text for text in texts):
            count += 1
    return min(count, len(goal_options))


def get_reward(product: Mapping[str, Any], goal: Mapping[str, Any], price: float,
               options: Mapping[str, str]) -> tuple[float, dict[str, Any]]:
    """The reward of buying `product` at `price` with `options` chosen, and its parts."""
    goal_options = list(goal["goal_options"].values())
    parts = type_reward(product, goal)
    attributes = attribute_matches(product, goal["attributes"])
    chosen = option_matches(product, goal_options, options)
    price_ok = price <= goal["price_upper"]
    total = (attributes + chosen + int(price_ok)) / (len(goal["attributes"]) + len(goal_options) + 1)
    parts.update(attribute_matches=attributes, option_matches=chosen, price_ok=price_ok)
    return total * parts["r_type"], parts
