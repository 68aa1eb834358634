"""Exemplars: the advice rules of SPEC section 4, golden prompt texts for a fixed memory
and seed, the token budget (with tiktoken's offline fallback), and the same prompt from
two processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from replay.exemplars import (
    Advice,
    ExemplarOptions,
    Templates,
    advise,
    build_prompt,
    exemplar_rng,
)
from replay.index import RetrievalIndex
from replay.matchers import MatcherConfig
from replay.pools import load_pool
from replay.projection import replay_run
from replay.state import ActionStats, Record
from replay.tokens import TokenCounter
from store.events import RunStarted
from store.recorder import SQLiteRecorder
from tests.conftest import REFERENCE_POOLS, ROOT, fixed_clock

GOLDEN = Path(__file__).parent / "golden"
OFFLINE = "rememberer-no-such-encoding"  # forces the character estimate, network or not
CONFIGS = {
    "wikihow": MatcherConfig((("fuzzy@task", 0.5), ("lcs", 0.25), ("wikihow-instruction", 0.25))),
    "webshop": MatcherConfig((("fuzzy@task", 0.5), ("webshop-page", 0.5))),
    "generic": MatcherConfig((("fuzzy@task", 0.5), ("fuzzy", 0.5))),
}


def record(task: str, observation: str, actions: dict[str, float], seq: int = 0, **fields) -> Record:
    rec = Record(task, observation, created_seq=seq, **fields)
    for i, (action, q) in enumerate(actions.items()):
        rec.actions[action] = ActionStats(q=q, visits=1, added_seq=i, reason=f"why {action}" if q else "")
    return rec


def pool_records(*names: str) -> list[Record]:
    out = []
    for name in names:
        for seed in load_pool(REFERENCE_POOLS / name).records:
            rec = Record(seed.task, seed.observation, created_seq=len(out), visits=seed.visits,
                         action_history=seed.action_history, last_reward=seed.last_reward,
                         total_reward=seed.total_reward, record_id=seed.record_id)
            for i, a in enumerate(seed.actions):
                rec.actions[a.action] = ActionStats(q=a.q, visits=a.visits, mean_reward=a.mean_reward,
                                                    added_seq=i, reason=a.reason)
            out.append(rec)
    return out


# --------------------------------------------------------------------------- advice rules


def options(**kw) -> ExemplarOptions:
    return ExemplarOptions(format="generic", **kw)


def test_the_best_action_is_encouraged_and_zero_q_actions_discouraged() -> None:
    rec = record("t", "o", {"a": 0.5, "b": 0.0, "c": 2.0, "d": 0.0, "e": -1.0})
    encouraged, discouraged = advise(rec, exemplar_rng(0, 0), options())
    assert encouraged == (Advice("c", 2.0, "why c"),)
    assert discouraged == (Advice("b", 0.0), Advice("d", 0.0))
    assert advise(rec, exemplar_rng(0, 0), options(discouraged=False)) == (encouraged, ())


def test_equal_best_q_encourages_the_earliest_added() -> None:
    rec = record("t", "o", {"x": 1.0, "y": 1.0})
    assert advise(rec, exemplar_rng(0, 0), options())[0] == (Advice("x", 1.0, "why x"),)


def test_no_positive_q_encourages_a_random_available_action_below_one_half() -> None:
    screen = '<div id="0">A</div>\n<img id="1">\nInstruction:\nAccess the article "How to X"'
    rec = record("t", screen, {"CLICK(0)": 0.0, "CLICK(1)": -0.5})
    wikihow = ExemplarOptions(format="wikihow")
    seen = set()
    for position in range(40):
        (advice,), discouraged = advise(rec, exemplar_rng(7, position), wikihow)
        assert 0.0 <= advice.value < 0.5
        assert advice.action in {"SCROLL(LEFT)", "SCROLL(UP)", "SCROLL(RIGHT)", "SCROLL(DOWN)", "CLICK(0)", "CLICK(1)"}
        if advice.action == "CLICK(1)":
            assert advice.reason == '<img id="1">'
        assert discouraged == (() if advice.action == "CLICK(0)" else (Advice("CLICK(0)", 0.0),))
        seen.add(advice.action)
    assert len(seen) == 6  # every option can be drawn
    # Random exemplars off: the best recorded action, however poor.
    assert advise(rec, exemplar_rng(7, 0), ExemplarOptions(format="wikihow", random_actions=False))[0] == \
        (Advice("CLICK(0)", 0.0),)


def test_all_positive_q_discourages_one_random_action_not_encouraged() -> None:
    page = "[Back to Search]\n[< Prev]\n[Buy Now]\n[Description]"
    rec = record("t", page, {"click[buy now]": 1.0, "click[description]": 0.5})
    webshop = ExemplarOptions(format="webshop")
    drawn = set()
    for position in range(30):
        encouraged, (advice,) = advise(rec, exemplar_rng(1, position), webshop)
        assert encouraged == (Advice("click[buy now]", 1.0, "why click[buy now]"),)
        assert advice.value == 0.0 and advice.action != "click[buy now]"
        drawn.add(advice.action)
    assert drawn == {"click[back to search]", "click[< prev]", "click[description]"}
    assert advise(rec, exemplar_rng(1, 0), ExemplarOptions(format="webshop", random_actions=False))[1] == ()


def test_the_generator_is_a_function_of_seed_and_position() -> None:
    draws = [exemplar_rng(3, 10).random() for _ in range(2)]
    assert draws[0] == draws[1]
    assert exemplar_rng(3, 11).random() != draws[0] and exemplar_rng(4, 10).random() != draws[0]


# --------------------------------------------------------------------------- golden prompts


def golden_memory(format: str) -> list[Record]:
    if format == "wikihow":
        records = pool_records("init_pool.q.yaml", "init_pool2.q.yaml", "init_pool3.q.yaml")
        search = records[0]
        records.append(record(search.task, search.observation.replace("Search", "Find"), {"CLICK(2)": 0.0},
                              seq=len(records)))
        return records
    if format == "webshop":
        return pool_records("init_pool.wq.yaml", "init_pool2.wq.yaml")
    return [
        record("Walk to the goal G without falling into a hole.", "SFF\nFHF\nFFG\nYou are at row 1, column 1.",
               {"down": 0.5, "right": 0.0, "up": 0.0}, seq=0, action_history=()),
        record("Walk to the goal G without falling into a hole.", "SFF\nFHF\nFFG\nYou are at row 2, column 1.",
               {"down": 0.8, "right": 0.3}, seq=1, action_history=(("down", ""),), total_reward=0.0),
        record("Walk to the goal G without falling into a hole.", "SFF\nFHF\nFFG\nYou are at row 3, column 3.",
               {"left": -1.0, "stay": 0.0}, seq=2, action_history=(("down", ""), ("down", ""), ("right", ""))),
    ]


def golden_prompt(format: str, **kw):
    memory = golden_memory(format)
    index = RetrievalIndex.build(memory, CONFIGS[format].build())
    query = memory[1]
    return build_prompt(index, query.task, query.observation, seed=42, position=17,
                        options=ExemplarOptions(format=format, **kw), counter=TokenCounter(OFFLINE),
                        history=[("click[search]", ""), ("click[next >]", "")], reward=0.0, total_reward=0.5)


@pytest.mark.parametrize("format", ["wikihow", "webshop", "generic"])
def test_prompt_text_matches_the_golden_file(format: str) -> None:
    prompt = golden_prompt(format)
    path = GOLDEN / f"exemplars_{format}.txt"
    if os.environ.get("REMEMBERER_UPDATE_GOLDEN"):
        path.write_text(prompt.text, encoding="utf-8")
    assert prompt.text == path.read_text(encoding="utf-8")
    assert len(prompt.exemplars) == 2
    assert prompt.text.index("Example 2:") < prompt.text.index("Example 1:") < prompt.text.index("Now the new input")
    # Example 1 is the best match: the query's own record.
    assert prompt.exemplars[0].retrieved.record.observation == golden_memory(format)[1].observation


def test_ablations_change_only_what_they_switch_off() -> None:
    full = golden_prompt("webshop")
    assert "Discouraged:" in full.text.split("Here are some examples:")[1]
    nodis = golden_prompt("webshop", discouraged=False)
    assert "Discouraged:" not in nodis.text.split("Here are some examples:")[1]
    static = golden_prompt("webshop", memory="static")
    assert static.exemplars == () and Templates("webshop").static.strip() in static.text
    none = golden_prompt("webshop", memory="none")
    assert none.exemplars == () and "Example 1:" not in none.text and none.new_input in none.text


# --------------------------------------------------------------------------- budget


def test_offline_tiktoken_falls_back_to_four_characters_a_token() -> None:
    counter = TokenCounter(OFFLINE)
    assert not counter.exact
    assert OFFLINE in counter.warning and "4 characters per token" in counter.warning
    assert [counter.count(t) for t in ("", "abcd", "abcde")] == [0, 1, 2]
    # Whatever the network, the default encoding either loads or falls back with a reason.
    default = TokenCounter()
    assert default.exact or "cl100k_base" in default.warning
    assert default.count("hello world") >= 1


def test_exemplars_are_added_while_they_fit_and_a_long_one_is_skipped() -> None:
    task = "Walk to the goal."
    long = record(task, "You are at the start. " + "ice " * 800, {"down": 1.0}, seq=0)
    short = record(task, "You are at the start.", {"right": 1.0}, seq=1)
    other = record("Walk to the goal!", "You are at the end.", {"up": 1.0}, seq=2)
    index = RetrievalIndex.build([long, short, other], CONFIGS["generic"].build())
    counter = TokenCounter(OFFLINE)

    def shown(budget: int) -> list[str]:
        prompt = build_prompt(index, task, "You are at the start. " + "ice " * 800, seed=0, position=0,
                              options=ExemplarOptions(budget=budget), counter=counter)
        assert prompt.tokens <= budget or not prompt.exemplars
        return [e.retrieved.record.observation[:20] for e in prompt.exemplars]

    roomy = shown(10_000)
    assert roomy == ["You are at the start", "You are at the start"] and len(roomy) == 2
    # Room for the query and short exemplars only: the long best match is skipped.
    assert shown(1_300) == ["You are at the start", "You are at the end."]
    assert shown(900) == []


# --------------------------------------------------------------------------- processes


def test_the_same_query_at_the_same_position_gives_the_same_prompt_in_two_processes(tmp_path) -> None:
    db = tmp_path / "m.db"
    with SQLiteRecorder(db, clock=fixed_clock) as recorder:
        recorder.append([RunStarted("wiki", seed=1234),
                         load_pool(REFERENCE_POOLS / "annotated_pool-auto.q.yaml", run="wiki")], "wiki", 0)
        state = replay_run(recorder, "wiki")
    query = load_pool(REFERENCE_POOLS / "init_pool.q.yaml").records[1]
    args = [str(Path(sys.executable).parent / "rememberer"), "retrieve", "--db", str(db), "--run", "wiki",
            "--task", query.task, "--observation", query.observation, "--exemplars", "--json",
            "--matcher", ",".join(f"{n}={w}" for n, w in CONFIGS["wikihow"].terms)]
    outputs = []
    for hash_seed in ("1", "2"):  # str hashes differ between these processes
        done = subprocess.run(args, capture_output=True, text=True, cwd=ROOT, timeout=120,
                              env={**os.environ, "PYTHONHASHSEED": hash_seed})
        assert done.returncode == 0, done.stderr
        outputs.append(json.loads(done.stdout))
    assert outputs[0] == outputs[1]
    assert outputs[0]["position"] == state.position == 2
    # Every annotated record has Q > 0 only: each exemplar's discouraged action was drawn.
    assert all(len(e["discouraged"]) == 1 and " -> 0.0" in e["discouraged"][0] for e in outputs[0]["exemplars"])
    index = RetrievalIndex.build(state.records.values(), CONFIGS["wikihow"].build())
    here = build_prompt(index, query.task, query.observation, seed=1234, position=2,
                        options=ExemplarOptions(format="wikihow"))
    assert here.text == outputs[0]["prompt"]
