"""`rememberer run` end to end: offline policy, the real openai client against the test
server (faults included), replay of recorded exchanges, the memory's effect, Ctrl-C + resume."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from rememberer_tui.agent.memory import LiveMemory
from rememberer_tui.agent.policies import OfflinePolicy
from rememberer_tui.agent.protocol import Plan, run_plan
from rememberer_tui.agent.session import Session
from rememberer_tui.agent.tasks import parse_tasks
from rememberer_tui.cli import cli
from rememberer_tui.envs.registry import make_env
from rememberer_tui.testing.llm_server import Fault, LlmTestServer
from replay.exemplars import ExemplarOptions
from replay.fold import qtable_rows
from replay.matchers.config import MatcherConfig
from replay.metrics import epoch_table
from replay.pools import load_pool
from replay.projection import replay_run
from store.mapper import to_row_fields
from store.events import LlmExchanged, RLConfig, RunStarted, TransitionRecorded
from store.recorder import SQLiteRecorder
from store.verify import verify
from tests.conftest import REFERENCE_POOLS

FAST_MATCHER = "fuzzy@task=0.5,webshop-page=0.5"  # no embedding model: keeps these tests quick
KEY = "sk-test-0123456789abcdefXYZsecret"


def invoke(*args) -> tuple[int, str]:
    result = CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)
    return result.exit_code, result.output


def events(db: Path, run: str) -> list:
    with SQLiteRecorder(db) as recorder:
        return list(recorder.read(run=run))


def test_live_memory_equals_the_replayed_one(db_path: Path) -> None:
    env = make_env("webshop-mini", max_steps=8)
    matcher = MatcherConfig((("fuzzy@task", 0.5), ("webshop-page", 0.5)))
    with SQLiteRecorder(db_path) as recorder:
        recorder.append([RunStarted("live", matcher=matcher.to_dict())], "live", 0)
        memory = LiveMemory(RLConfig(), matcher.build(), ExemplarOptions(format="webshop"), seed=3)
        session = Session(recorder, "live", env, OfflinePolicy(), memory, seed=3, max_steps=8)
        plan = Plan(parse_tasks("0:6", env, "train"), parse_tasks("0:3", env, "test"), epochs=2)
        results = run_plan(session, plan)
        assert len(results) == 18
        replayed = replay_run(recorder, "live")
        assert qtable_rows(replayed) == qtable_rows(memory.state)
        assert replayed.to_json() == memory.state.to_json()
        assert len(memory.index) == len(replayed.records) > 0
        kinds = [r.type for r in recorder.read(run="live")]
        assert kinds.count("ExperienceRetrieved") == kinds.count("TransitionRecorded")


def test_memory_beats_no_memory_on_webshop_mini(db_path: Path) -> None:
    common = ["--db", db_path, "--llm", "offline", "--epochs", "3", "--train-tasks", "0:20",
              "--test-tasks", "0:20", "--seed", "0", "--json"]
    code, out = invoke("run", "--run", "memory", "--matcher", FAST_MATCHER, *common)
    assert code == 0, out
    with_memory = json.loads(out)
    code, out = invoke("run", "--run", "alone", "--no-memory", *common)
    assert code == 0, out
    alone = json.loads(out)

    def test_success(rows: list) -> float:
        test_rows = [r for r in rows if r["split"] == "test"]
        assert len(test_rows) == 3 and all(r["episodes"] == 20 for r in test_rows)
        return sum(r["success_rate"] for r in test_rows) / len(test_rows)

    assert test_success(with_memory) > test_success(alone)
    started = events(db_path, "memory")[0].event
    assert started.policy == "offline (not an LLM)" and started.options["memory"] == "memory"


def shop_rule(counter: dict):
    """An 'LLM' that answers in the paper's format with an available action, and misbehaves
    on some requests: rate limit, server error, malformed body, unparsable text."""

    def rule(messages: list) -> object:
        counter["n"] += 1
        n = counter["n"]
        if n == 2:
            return Fault.rate_limited(retry_after=0)
        if n == 4:
            return Fault.server_error(500)
        if n == 6:
            return Fault.malformed()
        if n == 8:
            return "I am not sure what to do."
        prompt = next(m["content"] for m in messages if "Available Actions:" in m["content"])
        block = prompt.rsplit("Available Actions:", 1)[1].split("\n...")[0]
        actions = [line.strip() for line in block.strip().splitlines() if line.strip()]
        if any(a.startswith("search[") for a in actions):
            instruction = re.search(r"Instruction:\s*\n(.*)", prompt.rsplit("Observation:", 1)[1]).group(1)
            action = f"search[{instruction.split(',')[0]}]"
        else:
            clicks = [a for a in actions if a not in ("click[back to search]", "click[< prev]", "click[next >]")]
            action = "click[buy now]" if "click[buy now]" in actions else clicks[0]
        return f"Encouraged:\n{action} -> 1.0 it fits the instruction\nDiscouraged:\nclick[next >] -> 0.0\n"

    return rule


def run_llm(db: Path, run: str, base_url: str, *extra: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "OPENAI_API_KEY": KEY}
    return subprocess.run(
        [sys.executable, "-m", "rememberer_tui", "run", "--db", str(db), "--run", run, "--llm", extra[0],
         *extra[1:], "--model", "test-model", "--epochs", "1", "--train-tasks", "0:3", "--test-tasks", "0:2",
         "--max-steps", "6", "--matcher", FAST_MATCHER, "--timeout", "5", "--json"]
        + (["--base-url", base_url] if base_url else []),
        env=env, capture_output=True, text=True, timeout=300)


def test_llm_run_through_openai_client_with_faults_then_replay(db_path: Path) -> None:
    counter = {"n": 0}
    with LlmTestServer(rule=shop_rule(counter), api_key=KEY) as server:
        done = run_llm(db_path, "gpt", server.base_url, "openai")
        assert done.returncode == 0, done.stderr
        requests = len(server.chat_requests())
    recorded = events(db_path, "gpt")
    exchanges = [r.event for r in recorded if isinstance(r.event, LlmExchanged)]
    assert len(exchanges) == requests >= 8
    errors = [e.error for e in exchanges if e.error]
    assert any(e.startswith("rate_limited") for e in errors)
    assert any(e.startswith("server_error") for e in errors)
    assert any(e.startswith("bad_response") for e in errors)
    assert all(e.usage for e in exchanges if not e.error)
    assert KEY.encode() not in db_path.read_bytes()
    assert KEY not in done.stdout + done.stderr
    assert verify(SQLiteRecorder(db_path)).ok

    again = run_llm(db_path, "replayed", "", "replay", "--from-run", "gpt")
    assert again.returncode == 0, again.stderr

    def essence(run: str) -> list:
        out = []
        for r in events(db_path, run):
            if isinstance(r.event, RunStarted):
                continue
            type_, _, payload = to_row_fields(r.event)
            payload = json.loads(payload)
            payload.pop("latency_ms", None)
            out.append((type_, r.stream.split("/", 1)[1], payload))
        return out

    assert essence("replayed") == essence("gpt")
    table = lambda run: CliRunner().invoke(cli, ["qtable", "--db", str(db_path), "--run", run, "--json"]).output
    assert table("replayed") == table("gpt") and json.loads(table("gpt"))


def test_ctrl_c_stops_after_the_step_and_resume_finishes(tmp_path: Path) -> None:
    db = tmp_path / "run.db"
    args = [sys.executable, "-m", "rememberer_tui", "run", "--db", str(db), "--run", "r", "--llm", "offline",
            "--epochs", "2", "--train-tasks", "0:8", "--test-tasks", "0:4", "--matcher", FAST_MATCHER]
    process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if db.exists() and sum(isinstance(r.event, TransitionRecorded) for r in events(db, "r")) >= 10:
            break
        time.sleep(0.05)
    process.send_signal(signal.SIGINT)
    time.sleep(0.02)
    process.send_signal(signal.SIGINT)  # an impatient second Ctrl-C changes nothing
    out, err = process.communicate(timeout=60)
    assert process.returncode == 130, err
    assert err.strip().splitlines()[-1].startswith("interrupted: continue with `rememberer run"), err
    assert "Aborted" not in err and "Traceback" not in err
    partial = events(db, "r")
    last = [r.event for r in partial if isinstance(r.event, TransitionRecorded)][-1]
    assert last.truncated or last.terminated  # the interrupted episode was closed, not left open
    assert verify(SQLiteRecorder(db)).ok

    resumed = subprocess.run(args[:8] + ["--resume", "--json"], capture_output=True, text=True, timeout=120)
    assert resumed.returncode == 0, resumed.stderr
    rows = json.loads(resumed.stdout)
    assert [(r["epoch"], r["split"], r["episodes"]) for r in rows] == [
        (0, "train", 8), (0, "test", 4), (1, "train", 8), (1, "test", 4)]
    assert verify(SQLiteRecorder(db)).ok
    again = subprocess.run(args, capture_output=True, text=True)
    assert again.returncode == 1 and "already exists" in again.stderr


def test_bad_options_are_one_line_errors(db_path: Path) -> None:
    for args, expected in [
        (["--env", "nowhere"], "unknown environment 'nowhere'"),
        (["--train-tasks", "5:2"], "empty or negative"),
        (["--train-tasks", "0:999"], "goes past"),
        (["--test-tasks", "nope-1"], "unknown task id"),
        (["--matcher", "lcs=0.7,fuzzy=0.7"], "sum to 1"),
        (["--llm", "replay"], "--from-run"),
    ]:
        code, out = invoke("run", "--db", db_path, "--run", "x", *args)
        assert code != 0 and expected in out and out.strip().count("\n") == 0, (args, out)


def test_qtable_replays_an_item_capacity_run_with_the_runs_own_similarity(db_path: Path) -> None:
    """Evictions depend on the similarity: replay must use the run's matcher, as the live
    memory did, or the replayed table differs from the one the agent had."""
    from replay.retrieval import ItemSimilarity

    env = make_env("webshop-mini", max_steps=8)
    matcher = MatcherConfig((("fuzzy@task", 0.5), ("webshop-page", 0.5)))
    config = RLConfig(item_capacity=12)
    with SQLiteRecorder(db_path) as recorder:
        recorder.append([RunStarted("cap", rl=config, matcher=matcher.to_dict())], "cap", 0)
        built = matcher.build()
        memory = LiveMemory(config, built, ExemplarOptions(format="webshop"), seed=1)
        assert isinstance(memory.state.similarity, ItemSimilarity)
        session = Session(recorder, "cap", env, OfflinePolicy(), memory, seed=1, max_steps=8)
        run_plan(session, Plan(parse_tasks("0:6", env, "train"), [], epochs=1))
        assert len(memory.state.records) == 12 and any(f.kind == "evicted" for f in memory.state.facts)
        live = qtable_rows(memory.state)
        text_only = qtable_rows(replay_run(recorder, "cap"))  # the fold's default similarity
    code, out = invoke("qtable", "--db", db_path, "--run", "cap", "--json")
    assert code == 0, out
    assert json.loads(out) == live
    assert text_only != live  # the similarity really decides here


def test_a_run_seeded_with_pools_starts_from_them_and_keeps_learning(db_path: Path) -> None:
    pools = [REFERENCE_POOLS / "init_pool.wq.yaml", REFERENCE_POOLS / "init_pool2.wq.yaml"]
    seeded = [load_pool(path) for path in pools]
    code, out = invoke("run", "--db", db_path, "--run", "seeded", "--llm", "offline", "--epochs", "1",
                       "--train-tasks", "0:3", "--test-tasks", "0:1", "--matcher", FAST_MATCHER,
                       *(arg for path in pools for arg in ("--pool", path)))
    assert code == 0, out
    log = events(db_path, "seeded")
    assert [r.type for r in log[:4]] == ["RunStarted", "PoolImported", "PoolImported", "EpisodeStarted"]
    assert log[0].event.options["pools"] == [p.name for p in pools]
    assert [r.event.records for r in log[1:3]] == [pool.records for pool in seeded]
    # The very first retrieval already finds the pools' records (an empty memory finds none).
    first = next(r.event for r in log if r.type == "ExperienceRetrieved")
    assert first.records
    table = {(r["task"], r["observation"], r["action"]): r for r in json.loads(
        invoke("qtable", "--db", db_path, "--run", "seeded", "--json")[1])}
    pool_pairs = {(s.task, s.observation, a.action): a for pool in seeded for s in pool.records for a in s.actions}
    assert pool_pairs.keys() < table.keys()  # the pools, and what the run learned besides
    assert all(table[k]["q"] == a.q and table[k]["visits"] == a.visits for k, a in pool_pairs.items()
               if not any(r.type == "TransitionRecorded" and (k[1], k[2]) == (r.event.observation, r.event.action)
                          for r in log))


def test_pool_options_are_checked_before_anything_is_written(db_path: Path, tmp_path: Path) -> None:
    wikihow, webshop, copy = REFERENCE_POOLS / "init_pool.q.yaml", REFERENCE_POOLS / "init_pool.wq.yaml", tmp_path / "c.yaml"
    copy.write_bytes(webshop.read_bytes())
    for args, expected in [
        (["--pool", wikihow], f"{wikihow} is a wikihow pool, but webshop-mini needs webshop pools"),
        (["--pool", tmp_path / "missing.yaml"], f"{tmp_path / 'missing.yaml'}: No such file or directory"),
        (["--pool", webshop, "--pool", copy], f"--pool {copy} holds the same pool as --pool {webshop}: give it once"),
        (["--pool", webshop, "--no-memory"], "--pool seeds the memory, which --no-memory leaves unused"),
        (["--pool", webshop, "--static-exemplars"], "--pool seeds the memory, which --static-exemplars leaves unused"),
        (["--env", "gym:FrozenLake-v1", "--pool", wikihow], "--pool: environment 'gym:FrozenLake-v1' has no "
                                                            "reference pool format (pools are webshop and wikihow memories)"),
    ]:
        code, out = invoke("run", "--db", db_path, "--run", "x", "--matcher", FAST_MATCHER, *args)
        assert code == 1 and out.strip().splitlines() == [f"Error: {expected}"], out
    assert not db_path.exists() or events(db_path, "x") == []
    code, out = invoke("run", "--db", db_path, "--run", "x", "--resume", "--pool", wikihow)
    assert code == 1 and out.strip() == "Error: --pool starts a new run; a resumed run's pools are in its log already"


def test_resuming_a_run_that_run_did_not_start_is_a_one_line_error(db_path: Path) -> None:
    code, out = invoke("import-pool", REFERENCE_POOLS / "init_pool.wq.yaml", "--db", db_path, "--run", "pool")
    assert code == 0, out
    code, out = invoke("run", "--db", db_path, "--run", "pool", "--resume")
    assert code == 1 and out.strip().splitlines() == [
        "Error: --resume: run 'pool' was not started by `rememberer run` (its policy: imported pool), so it has "
        "no plan to continue; to start an agent from a pool, give a new run --pool FILE"]


def test_a_seeded_run_says_what_its_capacities_kept_out_of_the_pool(db_path: Path) -> None:
    result = CliRunner().invoke(cli, ["run", "--db", str(db_path), "--run", "small", "--llm", "offline",
                                      "--epochs", "1", "--train-tasks", "0:1", "--test-tasks", "0:1",
                                      "--matcher", FAST_MATCHER, "--action-capacity", "1",
                                      "--pool", str(REFERENCE_POOLS / "init_pool.wq.yaml")])
    assert result.exit_code == 0, result.output
    assert result.stderr.splitlines() == [
        "warning: run 'small' applied its capacities to the pool: 1 action pruned (action capacity 1, lowest "
        "mean reward first); a run with larger capacities keeps all of it"]
