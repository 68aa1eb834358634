"""`rememberer bench retrieval`: retrieval latency, index upkeep, and the naive baseline.

Synthetic but realistic memory: WikiHow-like records (a screen of 10-40 elements in the
proportions of the reference pools' screens, a step instruction of one of the six kinds)
over 2,000 distinct task texts, scored with the WikiHow preset (task embedding 0.5, tag
LCS 0.25, instruction kind 0.25). The task texts are embedded once with the real model
(all-MiniLM-L6-v2), or with seeded random unit vectors under `quick` (then said so in
`task_vectors`); every query's task is one of them, so its embedding is cached, as for a
known task.

The naive baseline is the reference implementation's way: each record's features
recomputed and scored one pair at a time in Python, then the whole list sorted.
"""

from __future__ import annotations

import random
import statistics
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from rapidfuzz import fuzz
from rapidfuzz.distance import LCSseq
from sqlite_utils import Database

from replay.embeddings import DEFAULT_MODEL, Embedder
from replay.index import RetrievalIndex, total_visits
from replay.matchers import CombinedMatcher, LcsMatcher, MatcherConfig, Query, Texts
from replay.pools import compose_observation
from replay.retrieval import retrieve
from replay.state import ActionStats, Record

# Element tags and their weights, roughly as in the reference pools' WikiHow screens.
TAGS = {"div": 34, "p": 24, "img": 20, "button": 7, "input": 3, "a": 5, "span": 4, "li": 3}
VERBS = ["bake", "clean", "fix", "paint", "grow", "repair", "build", "choose", "wash", "store",
         "train", "plant", "cook", "sew", "fold", "draw", "install", "replace", "organize", "decorate"]
THINGS = ["a bicycle chain", "sourdough bread", "a leaky faucet", "kitchen cabinets", "tomatoes",
          "a laptop screen", "a bookshelf", "running shoes", "a wool sweater", "fresh herbs", "a puppy",
          "an orchid", "rice noodles", "a quilt", "paper cranes", "a portrait", "a ceiling fan",
          "a car battery", "a closet", "a birthday cake", "a garden bed", "a guitar", "a tent",
          "a resume", "a fish tank", "house plants", "leather boots", "a wooden table", "a window",
          "a snow globe", "a phone case", "a backpack", "wall shelves", "a compost bin", "a rug",
          "a coffee maker", "a kite", "a birdhouse", "a raised bed", "a photo album", "a lamp",
          "copper pans", "a hammock", "a scarf", "a terrarium", "a bike tire", "a dresser",
          "a vegetable soup", "a dog bed", "a fence", "an omelette", "a pie crust", "a mural",
          "a garage door", "a shower head", "a sun hat", "a clay pot", "a jacket zipper",
          "a keyboard", "a picnic basket", "a smoothie", "a glass vase", "a candle", "a chair",
          "a flower crown", "a model ship", "a pillow", "a watch strap", "a kayak", "a tie",
          "a bread box", "a sandcastle", "a winter coat", "a tea set", "a spice rack", "a mailbox",
          "a swing", "a canoe", "a pizza oven", "a drone", "a sketchbook", "a door hinge",
          "a tile floor", "a toolbox", "a salad", "a hedge", "a lawn mower", "a sink drain",
          "a curtain rod", "a jar of jam", "a bird feeder", "a book cover", "a wallet", "a sofa",
          "a tree house", "a bathtub", "a paper lantern", "a skateboard", "a picture frame", "a cactus"]
CATEGORIES = ["Home and Garden", "Food and Entertaining", "Hobbies and Crafts", "Cars and Vehicles",
              "Computers and Electronics", "Health", "Pets and Animals", "Sports and Fitness"]


def synthetic_tasks(count: int, rng: random.Random) -> list[str]:
    """`count` distinct WikiHow-style task texts."""
    pairs = [(verb, thing) for verb in VERBS for thing in THINGS]
    rng.shuffle(pairs)
    if count > len(pairs):
        raise ValueError(f"at most {len(pairs)} synthetic tasks")
    return [f"Search an article to learn how to {verb} {thing}.\nThen, access the article "
            f"\"How to {verb.capitalize()} {thing.title()}\"" for verb, thing in pairs[:count]]


def synthetic_observation(rng: random.Random) -> str:
    """A screen of 10-40 elements and a step instruction, composed as replay.pools does."""
    names, weights = list(TAGS), list(TAGS.values())
    lines = []
    for i, tag in enumerate(rng.choices(names, weights, k=rng.randint(10, 40))):
        text = " ".join(rng.choice(THINGS).split()[1:]).title() if tag in ("div", "p", "a", "span") else ""
        lines.append(f'<{tag} id="{i}" clickable="{rng.choice(["true", "false"])}">{text}</{tag}>'
                     if text else f'<{tag} id="{i}" clickable="true">')
    kind = rng.randrange(6)
    instruction = ["", f'Access the article "How to {rng.choice(VERBS).title()} {rng.choice(THINGS).title()}"',
                   "Check the author page", f"Access the page of category {rng.choice(CATEGORIES)}",
                   "Check the reference list", "Access the about page"][kind]
    return compose_observation("wikihow", "\n".join(lines), instruction)


def synthetic_records(count: int, tasks: Sequence[str], rng: random.Random) -> list[Record]:
    records = []
    for seq in range(count):
        record = Record(rng.choice(tasks), synthetic_observation(rng), created_seq=seq)
        for k in range(rng.randint(1, 3)):
            record.actions[f"CLICK({k})"] = ActionStats(q=rng.choice([0.0, 0.5, 1.0, 2.0]),
                                                        visits=rng.randint(1, 4), added_seq=k)
        records.append(record)
    return records


def naive_retrieve(matcher: CombinedMatcher, records: Sequence[Record], query: Texts,
                   top: int = 2) -> list[tuple[float, Record]]:
    """The straightforward way (the reference's): every record's features computed and
    scored one pair at a time in Python, then all records sorted by (score, visits, age)."""
    terms = [(m, w, m.features([m.text(query)])[0]) for _, m, w in matcher.terms]
    scored = []
    for record in records:
        total = 0.0
        for m, w, feature in terms:
            total += w * m.similarity(feature, m.features([m.text(record)])[0])
        scored.append((total, record))
    scored.sort(key=lambda item: (-item[0], -total_visits(item[1]), item[1].created_seq))
    return scored[:top]


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 3)


def _timed(fn, *args):
    start = time.perf_counter()
    result = fn(*args)
    return time.perf_counter() - start, result


def bench_retrieval(quick: bool = False, records: int | None = None, **_) -> dict:
    sizes = [records] if records else ([1_000, 10_000] if quick else [1_000, 10_000, 100_000])
    rng = random.Random(20230501)
    tasks = synthetic_tasks(200 if quick else 2_000, rng)
    figures: dict = {"sizes": sizes, "distinct_tasks": len(tasks), "matcher": MatcherConfig.preset("wikihow").to_dict()}
    with tempfile.TemporaryDirectory() as tmp:
        db = Database(Path(tmp) / "bench.db")
        embedder = Embedder(DEFAULT_MODEL, db)
        if quick:
            vectors = np.random.default_rng(7).standard_normal((len(tasks), 384)).astype(np.float32)
            embedder.add(tasks, vectors / np.linalg.norm(vectors, axis=1, keepdims=True))
            figures["task_vectors"] = "seeded random unit vectors (quick)"
        else:
            seconds, _ = _timed(embedder.hashes, tasks)
            figures["task_vectors"] = f"{DEFAULT_MODEL}, {len(tasks)} texts embedded in {seconds:.1f} s (model load included)"
        config = MatcherConfig.preset("wikihow")
        memory = synthetic_records(max(sizes), tasks, rng)
        queries = [Query(rng.choice(tasks), synthetic_observation(rng)) for _ in range(40)]

        for size in sizes:
            matcher = config.build(lambda model: embedder)
            build_s, index = _timed(RetrievalIndex.build, memory[:size], matcher)
            retrieve(index, queries[0].task, queries[0].observation)  # warm-up
            samples = [_timed(retrieve, index, q.task, q.observation, 2)[0] for q in queries]
            figures[f"retrieve_p50_ms_{size}"] = _ms(statistics.median(samples))
            figures[f"retrieve_p95_ms_{size}"] = _ms(sorted(samples)[int(0.95 * len(samples)) - 1])
            figures[f"build_in_memory_s_{size}"] = round(build_s, 3)

            # The naive baseline on a few queries (it is slow): same top-m, and the ratio.
            checked = queries[:3 if size >= 100_000 else 10]
            naive_s, fast_s, same = [], [], True
            for q in checked:
                seconds, slow = _timed(naive_retrieve, matcher, memory[:size], q, 2)
                naive_s.append(seconds)
                seconds, fast = _timed(retrieve, index, q.task, q.observation, 2)
                fast_s.append(seconds)
                same &= [r.record for r in fast] == [r for _, r in slow]
            figures[f"naive_p50_ms_{size}"] = _ms(statistics.median(naive_s))
            figures[f"speedup_vs_naive_{size}"] = round(statistics.median(naive_s) / statistics.median(fast_s), 1)
            figures[f"same_top_m_as_naive_{size}"] = same

        # Following the fold: one record at a time through the listener hook.
        inserts = memory[:min(max(sizes), 20_000)]
        index = RetrievalIndex(config.build(lambda model: embedder))
        seconds, _ = _timed(lambda: [index.record_added(r) for r in inserts])
        figures["insert_amortised_us"] = round(seconds / len(inserts) * 1e6, 2)

        # Rebuilding from the log: a fresh Embedder reads the stored vectors (no model).
        fresh = Embedder(DEFAULT_MODEL, db)
        seconds, index = _timed(RetrievalIndex.build, memory, config.build(lambda model: fresh))
        figures[f"build_from_stored_embeddings_s_{len(memory)}"] = round(seconds, 3)
        figures["build_encoded_texts"] = fresh.encoded
        db.close()

    # What the fuzzy matcher costs next to the tag LCS on whole screens, per pair.
    screens = [synthetic_observation(rng) for _ in range(200)]
    lcs = LcsMatcher()
    encoded = lcs.features(screens)
    lcs_s, _ = _timed(lambda: [LCSseq.similarity(encoded[0], e) for e in encoded])
    fuzzy_s, _ = _timed(lambda: [fuzz.ratio(screens[0], s) for s in screens])
    figures["fuzzy_over_lcs_cost"] = round(fuzzy_s / lcs_s, 1)
    return figures
