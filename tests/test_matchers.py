"""Matchers: hand-computed values on the reference pools, LCS against a plain dynamic
program, and the batch path against the per-pair path."""

from __future__ import annotations

import random
from collections import Counter

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from replay.embeddings import Embedder
from replay.index import RetrievalIndex
from replay.matchers import (
    FuzzyMatcher,
    LcsMatcher,
    MatcherConfig,
    MatcherConfigError,
    Query,
    WebShopPageMatcher,
    WikiHowInstructionMatcher,
    tags,
)
from replay.pools import load_pool
from replay.retrieval_benchmarks import synthetic_observation, synthetic_records, synthetic_tasks
from tests.conftest import REFERENCE_POOLS


def pool(name: str):
    return load_pool(REFERENCE_POOLS / name).records


def dp_lcs(a: list[str], b: list[str]) -> int:
    """The textbook O(len(a) * len(b)) dynamic program (the reference's LCSNodeMatcher)."""
    table = [[0] * (len(b) + 1) for _ in range(len(a) + 1)]
    for i in range(1, len(a) + 1):
        for j in range(1, len(b) + 1):
            table[i][j] = (table[i - 1][j - 1] + 1 if a[i - 1] == b[j - 1]
                           else max(table[i - 1][j], table[i][j - 1]))
    return table[-1][-1]


# --------------------------------------------------------------------------- LCS


def test_tags_are_the_element_names_of_lines_that_open_an_element() -> None:
    screen = ('<div id="0">A</div>\n  <IMG alt="x">\nplain text <p>inside</p>\n</div>\n<my-widget id="3">\n'
              "Instruction:\nAccess the article")
    assert tags(screen) == ["div", "img", "my-widget"]


def test_lcs_on_pool_screens_matches_hand_computed_values() -> None:
    search, results = pool("init_pool.q.yaml")
    assert tags(search.observation) == ["button", "img", "img", "div", "div"]
    results_tags = tags(results.observation)
    assert len(results_tags) == 55 and results_tags[:5] == ["button", "input", "img", "div", "div"]
    assert results_tags.count("img") == 1
    # Longest common subsequence: button, img, div, div (the results screen has one img).
    lcs = LcsMatcher()
    assert lcs.score(search, results) == 4 / 55
    # The same search screen under another task (init_pool2's second record).
    other_search = pool("init_pool2.q.yaml")[1]
    assert lcs.score(search, other_search) == 1.0
    assert lcs.score(Query("t", "no elements"), Query("u", "none either")) == 1.0
    assert lcs.score(Query("t", "no elements"), search) == 0.0


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(["div", "p", "img", "button", "input", "a"]), max_size=40),
       st.lists(st.sampled_from(["div", "p", "img", "button", "input", "a"]), max_size=40))
def test_lcs_equals_the_dynamic_program(a: list[str], b: list[str]) -> None:
    screen_a = "\n".join(f'<{t} id="{i}">' for i, t in enumerate(a))
    screen_b = "\n".join(f'<{t} id="{i}">' for i, t in enumerate(b))
    expected = dp_lcs(a, b) / max(len(a), len(b)) if a or b else 1.0
    matcher = LcsMatcher()
    assert matcher.score(Query("", screen_a), Query("", screen_b)) == expected
    assert matcher.scores(Query("", screen_a), [Query("", screen_b)])[0] == expected


def test_lcs_alphabet_grows_past_the_8_bit_code_points() -> None:
    many = [f"t{i}" for i in range(300)]  # more tags than 8-bit code points
    screen = "\n".join(f"<{t}>" for t in many)
    reversed_screen = "\n".join(f"<{t}>" for t in reversed(many))
    matcher = LcsMatcher()
    assert matcher.score(Query("", screen), Query("", screen)) == 1.0
    assert matcher.score(Query("", screen), Query("", reversed_screen)) == 1 / 300


# --------------------------------------------------------------------------- fuzzy


def test_fuzzy_is_rapidfuzz_ratio_over_100() -> None:
    fuzzy = FuzzyMatcher()
    # Indel similarity: 2 * LCS / (len1 + len2) = 2 * 3 / 8.
    assert fuzzy.score(Query("", "abcd"), Query("", "abce")) == 0.75
    assert fuzzy.score(Query("", "same"), Query("", "same")) == 1.0
    assert FuzzyMatcher("task").score(Query("abcd", "x"), Query("abce", "y")) == 0.75


# --------------------------------------------------------------------------- patterns


def test_webshop_page_kinds_of_the_pool_pages() -> None:
    matcher = WebShopPageMatcher()
    for name in ("init_pool.wq.yaml", "init_pool2.wq.yaml", "init_pool3.wq.yaml"):
        kinds = [matcher.kind_name(r.observation) for r in pool(name)]
        assert kinds == ["search", "results", "item", "item"], name
    search, results, item, item2 = pool("init_pool.wq.yaml")
    assert matcher.score(search, results) == 0.0
    assert matcher.score(item, item2) == 1.0
    assert matcher.score(results, results) == 1.0


def test_webshop_page_kinds_of_bare_text_rich_pages() -> None:
    matcher = WebShopPageMatcher()
    description = "Instruction:\ni need a red sandal\n[Back to Search]\n[< Prev]\nA light sandal for summer."
    item = ("Instruction:\ni need a red sandal\n[Back to Search]\n[< Prev]\ncolor [red][blue]\n"
            "[Description]\n[Features]\n[Reviews]\n[Buy Now]")
    page_two = "[Back to Search]\nPage 2 (Total results: 50)\n[< Prev]\n[Next >]\n[B07XYZ1234]\nSandal\n$9.99"
    assert matcher.kind_name(description) == "other"
    assert matcher.kind_name(item) == "item"
    assert matcher.kind_name(page_two) == "results"
    assert matcher.kind_name("a page with nothing to click") == "unknown"
    assert matcher.score(Query("", item), Query("", description)) == 0.3
    assert matcher.score(Query("", page_two), Query("", description)) == 0.0
    # An unknown page is like nothing, itself included (the reference's rule).
    assert matcher.score(Query("", "nothing"), Query("", "nothing")) == 0.0


def test_wikihow_instruction_kinds_of_the_annotated_pool() -> None:
    matcher = WikiHowInstructionMatcher()
    records = pool("annotated_pool-auto.q.yaml")
    counts = Counter(matcher.kind_name(r.observation) for r in records)
    # Counted in the YAML by hand (grep "^- Access the article" and so on).
    assert counts == {"article": 19, "search": 10, "category": 4, "about": 2, "reference": 2, "author": 1}
    by_kind = {matcher.kind_name(r.observation): r for r in records}
    assert matcher.score(by_kind["author"], by_kind["category"]) == 0.8
    assert matcher.score(by_kind["reference"], by_kind["about"]) == 0.8
    assert matcher.score(by_kind["search"], by_kind["article"]) == 0.1
    assert matcher.score(by_kind["article"], by_kind["reference"]) == 0.0
    assert matcher.score(by_kind["category"], by_kind["reference"]) == 0.3


# --------------------------------------------------------------------------- batch == per pair


def random_unit_embedder(texts: list[str], seed: int = 3) -> Embedder:
    embedder = Embedder()
    vectors = np.random.default_rng(seed).standard_normal((len(texts), 384)).astype(np.float32)
    embedder.add(texts, vectors / np.linalg.norm(vectors, axis=1, keepdims=True))
    return embedder


def test_batch_scores_equal_per_pair_scores_on_1000_random_pairs() -> None:
    rng = random.Random(11)
    tasks = synthetic_tasks(50, rng)
    embedder = random_unit_embedder(tasks)
    records = synthetic_records(200, tasks, rng)
    queries = [Query(rng.choice(tasks), synthetic_observation(rng)) for _ in range(5)]
    config = MatcherConfig((("embedding", 0.4), ("lcs", 0.2), ("wikihow-instruction", 0.2), ("fuzzy@task", 0.2)))
    matcher = config.build(lambda model: embedder)
    index = RetrievalIndex.build(records, matcher)
    checked = 0
    for query in queries:
        combined, per_term = index.scores(query)
        for row in rng.sample(range(len(records)), 200):
            record = index.records[row]
            assert combined[row] == pytest.approx(matcher.score(query, record), abs=1e-6)
            for (name, term, _), values in zip(matcher.terms, per_term):
                assert values[row] == pytest.approx(term.score(query, record), abs=1e-6), name
            checked += 1
    assert checked == 1000


# --------------------------------------------------------------------------- config


def test_matcher_config_round_trips_and_names_are_canonical() -> None:
    paper = MatcherConfig.from_dict({"task": "embedding", "observation": "lcs", "task_weight": 0.3})
    assert paper.terms == (("embedding:all-MiniLM-L6-v2", 0.3), ("lcs", 0.7))
    assert paper.to_dict() == {"task": "embedding:all-MiniLM-L6-v2", "observation": "lcs", "task_weight": 0.3}
    assert MatcherConfig.from_dict({}) == MatcherConfig()
    for config in (MatcherConfig(), paper, MatcherConfig.preset("wikihow"), MatcherConfig.preset("webshop"),
                   MatcherConfig((("fuzzy@task", 0.5), ("embedding@observation", 0.5)))):
        assert MatcherConfig.from_dict(config.to_dict()) == config
    assert MatcherConfig.preset("wikihow").to_dict()["terms"][1] == {"matcher": "lcs", "weight": 0.25}


def test_ablations_keep_one_text_and_renormalise() -> None:
    config = MatcherConfig.preset("wikihow")
    assert config.ablate("task-only").terms == (("embedding:all-MiniLM-L6-v2", 1.0),)
    assert config.ablate("observation-only").terms == (("lcs", 0.5), ("wikihow-instruction", 0.5))
    assert config.ablate("combined") is config
    with pytest.raises(MatcherConfigError, match="no matcher reading the task"):
        MatcherConfig((("lcs", 1.0),)).ablate("task-only")


@pytest.mark.parametrize("data, message", [
    ({"task": "embedding", "observation": "lcs", "task_weight": 1.5}, "task_weight must be a number in"),
    ({"terms": [{"matcher": "lcs", "weight": 0.5}, {"matcher": "fuzzy", "weight": 0.6}]}, "sum to 1"),
    ({"terms": [{"matcher": "bm25", "weight": 1.0}]}, "unknown matcher 'bm25'"),
    ({"terms": [{"matcher": "lcs", "weight": 0.5}, {"matcher": "lcs", "weight": 0.5}]}, "appears twice"),
    ({"terms": [{"matcher": "lcs@screen", "weight": 1.0}]}, "@task or @observation"),
    ({"task": "embedding", "colour": "red"}, "unknown matcher config key"),
])
def test_bad_matcher_configs_are_refused_with_a_reason(data: dict, message: str) -> None:
    with pytest.raises(MatcherConfigError, match=message):
        MatcherConfig.from_dict(data)
