"""Retrieval over real pools imported through the event log: a record is its own best
match, ties break by visits then age, the index follows the fold, the embedding cache keeps
the model out of known tasks, and `rememberer retrieve` works as a real subprocess."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from rememberer_tui.cli import cli
from replay.embeddings import Embedder, load_model
from replay.fold import fold, initial_state
from replay.index import RetrievalIndex
from replay.matchers import MatcherConfig, Query
from replay.pools import load_pool
from replay.projection import replay_run
from replay.retrieval import ItemSimilarity, ranked, retrieve
from replay.retrieval_benchmarks import naive_retrieve, synthetic_observation, synthetic_records, synthetic_tasks
from replay.state import ActionStats, Record
from store.events import (
    EpisodeEnded,
    EpisodeStarted,
    RecordForgotten,
    RLConfig,
    RunStarted,
    TransitionRecorded,
)
from store.recorder import SQLiteRecorder
from tests.conftest import REFERENCE_POOLS, ROOT, fixed_clock

POOLS = sorted(p.name for p in REFERENCE_POOLS.glob("*.yaml"))
EXACT_TEXT = MatcherConfig((("embedding", 0.5), ("fuzzy", 0.5)))  # tells every pool record apart
NO_MODEL = MatcherConfig((("fuzzy@task", 0.5), ("lcs", 0.25), ("wikihow-instruction", 0.25)))


@pytest.fixture(scope="session")
def minilm():
    return load_model()  # cached per process: one load for the whole session


def import_pool(db: Path, name: str, run: str = "r", rl: RLConfig = RLConfig()) -> SQLiteRecorder:
    recorder = SQLiteRecorder(db, clock=fixed_clock)
    recorder.append([RunStarted(run, rl=rl), load_pool(REFERENCE_POOLS / name, run=run)], run, 0)
    return recorder


# --------------------------------------------------------------------------- pools


@pytest.mark.parametrize("name", POOLS)
def test_a_pool_record_retrieves_itself_first_with_score_1(tmp_path, minilm, name) -> None:
    recorder = import_pool(tmp_path / "m.db", name)
    records = list(replay_run(recorder, "r").records.values())
    format = load_pool(REFERENCE_POOLS / name).format
    embedder = Embedder(db=recorder.db, loader=lambda model: minilm)
    exact = RetrievalIndex.build(records, EXACT_TEXT.build(lambda model: embedder))
    preset = RetrievalIndex.build(records, MatcherConfig.preset(format).build(lambda model: embedder))
    for record in records:
        (best,) = retrieve(exact, record.task, record.observation, top=1)
        assert best.record is record
        assert best.score == pytest.approx(1.0, abs=1e-6)
        assert all(value == pytest.approx(1.0, abs=1e-6) for value in best.scores.values())
        # The format's preset is coarser (page kinds, tag sequences): the record scores 1
        # and only records that look exactly alike to it can share the top.
        top = retrieve(preset, record.task, record.observation, top=len(records))
        own = next(r for r in top if r.record is record)
        assert own.score == pytest.approx(1.0, abs=1e-6)
        assert all(r.score == pytest.approx(1.0, abs=1e-6) for r in top[:top.index(own)])
    recorder.close()


def test_ties_break_by_total_visits_then_age() -> None:
    page = "[Back to Search]\n[< Prev]\n{}\n[Buy Now]"
    records = []
    for seq, visits in enumerate([1, 3, 3, 0, 2]):
        record = Record("buy a lamp", page.format(f"lamp {seq}"), created_seq=seq)
        record.actions["click[buy now]"] = ActionStats(q=1.0, visits=visits)
        records.append(record)
    records.append(Record("buy a lamp", "[Search]", created_seq=9))
    index = RetrievalIndex.build(reversed(records), MatcherConfig((("webshop-page", 1.0),)).build())
    found = retrieve(index, "any", page.format("a query page"), top=6)
    assert [r.record.created_seq for r in found] == [1, 2, 4, 0, 3, 9]
    assert [r.score for r in found] == [1.0] * 5 + [0.0]
    assert [r.visits for r in found[:5]] == [3, 3, 2, 1, 0]
    # A tie at the m-th place is settled the same way.
    assert [r.record.created_seq for r in retrieve(index, "any", page.format("q"), top=2)] == [1, 2]


def test_ranked_is_the_whole_ranking_and_equals_the_naive_one() -> None:
    rng = random.Random(5)
    tasks = synthetic_tasks(30, rng)
    records = synthetic_records(300, tasks, rng)
    matcher = NO_MODEL.build()
    index = RetrievalIndex.build(records, matcher)
    query = Query(tasks[0], synthetic_observation(rng))
    lazily = list(ranked(index, query.task, query.observation, first=2))
    assert [r.record for r in lazily] == [r for _, r in naive_retrieve(matcher, records, query, top=300)]
    assert [r.record for r in lazily[:7]] == [r.record for r in retrieve(index, query.task, query.observation, 7)]


@pytest.mark.parametrize("seed", range(2))
def test_pruned_ranking_equals_scoring_every_record(seed) -> None:
    # Few distinct screens and tasks: many exact ties, the hard case for pruning.
    rng = random.Random(seed)
    tasks = synthetic_tasks(6, rng)
    screens = [synthetic_observation(rng) for _ in range(15)]
    records = [Record(rng.choice(tasks), f"{rng.choice(screens)}\n<p>{i}</p>", created_seq=i) for i in range(400)]
    for r in records:
        r.actions["a"] = ActionStats(visits=rng.randrange(3))
    for config in (NO_MODEL, MatcherConfig((("lcs", 0.7), ("fuzzy", 0.3))), MatcherConfig((("lcs", 1.0),))):
        index = RetrievalIndex.build(records, config.build())
        for k in (1, 2, 7, 64, 399, 400, 1000):
            query = Query(rng.choice(tasks), rng.choice(screens))
            combined, _ = index.scores(query)
            everything = sorted(range(len(records)), key=lambda row: (
                -combined[row], -sum(a.visits for a in index.records[row].actions.values()),
                index.records[row].created_seq))
            rows, scores, _ = index.rank(query, k)
            assert list(rows) == everything[:k]
            assert list(scores) == [combined[row] for row in everything[:k]]


# --------------------------------------------------------------------------- embeddings cache


def test_a_second_retrieval_for_a_known_task_never_loads_the_model(tmp_path, minilm) -> None:
    loads: list[str] = []

    def loader(name: str):
        loads.append(name)
        return minilm

    recorder = import_pool(tmp_path / "m.db", "annotated_pool-auto.q.yaml")
    records = list(replay_run(recorder, "r").records.values())
    query = records[7]
    config = MatcherConfig.preset("wikihow")
    first = Embedder(db=recorder.db, loader=loader)
    found = retrieve(RetrievalIndex.build(records, config.build(lambda m: first)), query.task, query.observation)
    assert loads == ["all-MiniLM-L6-v2"] and first.encoded == len({r.task for r in records})

    # Replay and retrieve again in a fresh process-like setting: only stored embeddings.
    again = Embedder(db=recorder.db, loader=loader)
    replayed = list(replay_run(recorder, "r").records.values())
    second = retrieve(RetrievalIndex.build(replayed, config.build(lambda m: again)), query.task, query.observation)
    assert loads == ["all-MiniLM-L6-v2"] and (again.loads, again.encoded) == (0, 0)
    assert [(r.record.state_key, r.score) for r in second] == [(r.record.state_key, r.score) for r in found]
    recorder.close()


# --------------------------------------------------------------------------- following the fold


def episode(recorder: SQLiteRecorder, run: str, name: str, task: str, steps: list[tuple[str, str, float]]) -> None:
    stream = f"{run}/{name}"
    events = [EpisodeStarted(name, task)]
    for i, (observation, action, reward) in enumerate(steps):
        last = i == len(steps) - 1
        following = steps[i + 1][0] if not last else observation + "\n<div>done</div>"
        events.append(TransitionRecorded(name, i, observation, action, reward, following, terminated=last))
    events.append(EpisodeEnded(name, sum(s[2] for s in steps), success=True, steps=len(steps)))
    recorder.append(events, stream, 0)


def test_the_index_follows_the_fold_and_equals_a_rebuilt_one(tmp_path) -> None:
    rl = RLConfig(item_capacity=30)
    recorder = import_pool(tmp_path / "m.db", "annotated_pool-auto.q.yaml", rl=rl)
    rng = random.Random(9)
    screens = [synthetic_observation(rng) for _ in range(12)]
    for n in range(6):
        steps = [(rng.choice(screens), f"CLICK({rng.randrange(5)})", float(rng.random() < 0.3)) for _ in range(4)]
        episode(recorder, "r", f"ep-{n}", f"Search an article to learn how to do thing {n % 3}.", steps)
    forget = next(r.event for r in recorder.read() if isinstance(r.event, TransitionRecorded))
    recorder.append([RecordForgotten("Search an article to learn how to do thing 0.", forget.observation,
                                     reason="test")], "r", recorder.stream_version("r"))

    matcher = NO_MODEL.build()
    live = RetrievalIndex(matcher)
    state = fold(recorder.read(run="r"), initial_state(rl, similarity=ItemSimilarity(matcher), listeners=[live]))
    evictions = [f for f in state.facts if type(f).__name__ == "Eviction"]
    assert len(state.records) == 29 and evictions  # full (30), then one record forgotten
    assert any(f.kind == "forgotten" for f in evictions)

    rebuilt = RetrievalIndex.build(state.records.values(), NO_MODEL.build())
    assert sorted(r.state_key for r in live.records) == sorted(state.records)
    for query in [*list(state.records.values())[:5], Query("how to do thing 2", screens[0])]:
        got = retrieve(live, query.task, query.observation, top=5)
        want = retrieve(rebuilt, query.task, query.observation, top=5)
        assert [(r.record.state_key, r.score, r.visits) for r in got] == \
               [(r.record.state_key, r.score, r.visits) for r in want]
    recorder.close()


def test_item_similarity_is_the_combined_matcher_score() -> None:
    rng = random.Random(2)
    records = synthetic_records(40, synthetic_tasks(10, rng), rng)
    matcher = NO_MODEL.build()
    similarity = ItemSimilarity(matcher)
    for a, b in zip(records, reversed(records)):
        assert similarity.pair(a, b) == matcher.score(a, b) == pytest.approx(similarity.pair(b, a), abs=1e-12)
    assert similarity.pair(records[0], records[0]) == pytest.approx(1.0)


# --------------------------------------------------------------------------- CLI


def rememberer(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(Path(sys.executable).parent / "rememberer"), *map(str, args)],
                          capture_output=True, text=True, cwd=cwd, timeout=120)


NO_MODEL_TERMS = ",".join(f"{name}={weight}" for name, weight in NO_MODEL.terms)


def test_retrieve_command_prints_records_with_scores_and_q_values(tmp_path) -> None:
    db = tmp_path / "m.db"
    assert rememberer("import-pool", REFERENCE_POOLS / "annotated_pool-auto.q.yaml", "--db", db, "--run", "wiki",
                      cwd=ROOT).returncode == 0
    query = load_pool(REFERENCE_POOLS / "annotated_pool-auto.q.yaml").records[12]
    (tmp_path / "screen.txt").write_text(query.observation, encoding="utf-8")
    done = rememberer("retrieve", "--db", db, "--run", "wiki", "--task", query.task, "--observation",
                      f"@{tmp_path / 'screen.txt'}", "--top", "3", "--json", "--matcher", NO_MODEL_TERMS, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["position"] == 2 and out["matcher"] == NO_MODEL.to_dict()
    best = out["records"][0]
    assert best["record_id"] == 12 and best["score"] == 1.0
    assert best["scores"] == {"fuzzy@task": 1.0, "lcs": 1.0, "wikihow-instruction": 1.0}
    assert best["actions"] == [{"action": "CLICK(5)", "q": 2.0, "visits": 1, "mean_reward": 0.0}]
    assert [r["score"] for r in out["records"]] == sorted((r["score"] for r in out["records"]), reverse=True)

    table = rememberer("retrieve", "--db", db, "--task", query.task, "--observation", query.observation,
                       "--matcher", NO_MODEL_TERMS, "--top", "1", cwd=ROOT)
    assert table.returncode == 0, table.stderr
    assert "retrieved at position 2" in table.stdout and "CLICK(5): 2" in table.stdout


@pytest.mark.parametrize("args, message", [
    (["--run", "nope"], "no run 'nope'"),
    (["--observation", "@/no/such/file.txt"], "--observation @/no/such/file.txt: No such file"),
    (["--matcher", "lcs"], "--matcher: 'lcs' must be NAME=WEIGHT"),
    (["--matcher", "lcs=0.4"], "matcher weights must sum to 1"),
    (["--at", "99"], "position 99 is outside the log"),
])
def test_retrieve_command_errors_are_one_line(tmp_path, args, message) -> None:
    recorder = import_pool(tmp_path / "m.db", "init_pool.q.yaml", run="wiki")
    recorder.close()
    base = {"--run": "wiki", "--task": "t", "--observation": "<div>", "--matcher": NO_MODEL_TERMS}
    for flag, value in zip(args[::2], args[1::2]):
        base[flag] = value
    done = CliRunner().invoke(cli, ["retrieve", "--db", str(tmp_path / "m.db"), *[x for kv in base.items() for x in kv]])
    assert done.exit_code == 1
    assert message in done.stderr and len(done.stderr.strip().splitlines()) == 1, done.stderr
