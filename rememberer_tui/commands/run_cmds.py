"""`rememberer run`: train and test a REMEMBERER agent on a task set, recording everything."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from rememberer_tui.agent.memory import LiveMemory
from rememberer_tui.agent.policies import LlmPolicy, OfflinePolicy
from rememberer_tui.agent.protocol import Plan, run_plan
from rememberer_tui.agent.session import PolicyError, Session
from rememberer_tui.agent.tasks import TaskSpecError, parse_tasks
from rememberer_tui.cli import CliError, cli, interrupted
from rememberer_tui.commands.events_cmds import check_same_config, find_run_started
from rememberer_tui.commands.pool_cmds import load_pools, warn_capacity_losses
from rememberer_tui.envs.base import EnvError
from rememberer_tui.envs.registry import list_envs, make_env
from rememberer_tui.options import (
    db_option,
    json_option,
    matcher_option,
    parse_matcher,
    pop_rl_options,
    rl_options,
)
from rememberer_tui.progress import progress
from replay.embeddings import Embedder
from replay.exemplars import ExemplarOptions
from replay.matchers.config import MatcherConfig, MatcherConfigError
from replay.metrics import epoch_table
from replay.projection import replay_run
from replay.retrieval import ItemSimilarity
from store.events import RLConfig, RunStarted
from store.recorder import SQLiteRecorder

LLM_KINDS = ("openai", "offline", "replay")


def env_format(env_name: str) -> str:
    return "webshop" if env_name.startswith("webshop") else "generic"


def make_policy(llm: str, *, model: str, base_url: str | None, from_run: str | None, db: str,
                temperature: float = 0.0, max_tokens: int = 256, timeout: float = 60.0):
    if llm == "offline":
        return OfflinePolicy()
    from rememberer_tui.llm.client import LlmClient, LlmConfig  # imports openai: only when asked
    if llm == "replay":
        from rememberer_tui.llm.replayed import ReplayedLlm
        if not from_run:
            raise CliError("--llm replay needs --from-run NAME (the run whose exchanges answer)")
        return LlmPolicy(ReplayedLlm.from_store(db, from_run), model=f"replay:{from_run}")
    config = LlmConfig(model=model, base_url=base_url, temperature=temperature, max_tokens=max_tokens,
                       timeout=timeout)
    return LlmPolicy(LlmClient(config), model=model)


def _recorded_run(db: str, run: str) -> RunStarted:
    if not os.path.exists(db):
        raise CliError(f"--resume: {db} does not exist")
    with SQLiteRecorder(db, create=False) as recorder:
        started = find_run_started(recorder, run)
    if started is None:
        raise CliError(f"--resume: there is no run {run!r} in {db}")
    if not RUN_OPTIONS <= started.options.keys():
        raise CliError(f"--resume: run {run!r} was not started by `rememberer run` (its policy: "
                       f"{started.policy or 'none'}), so it has no plan to continue; to start an agent "
                       "from a pool, give a new run --pool FILE")
    return started


# What `run` records in RunStarted.options, and --resume reads back.
RUN_OPTIONS = frozenset({"train_tasks", "test_tasks", "epochs", "max_steps", "llm", "base_url", "memory", "top",
                         "similarity", "random_exemplars", "discouraged"})


def print_table(rows: list, console: Console) -> None:
    table = Table("epoch", "split", "episodes", "average reward", "success rate", header_style="bold")
    for row in rows:
        table.add_row(str(row.epoch), row.split, str(row.episodes), f"{row.average_reward:.3f}",
                      f"{row.success_rate:.1%}")
    console.print(table)


@cli.command()
@click.option("--env", "env_name", default="webshop-mini", show_default=True,
              help=f"The environment: {', '.join(list(list_envs())[:3])} or gym:<id>.")
@db_option(exists=False)
@click.option("--run", required=True, help="The run's name (a new one, or an interrupted one with --resume).")
@click.option("--llm", type=click.Choice(LLM_KINDS), default=None,
              help="openai: any OpenAI-compatible server; offline: a seeded heuristic, NOT an LLM; "
                   "replay: answers recorded in --from-run. Default: openai when --base-url or "
                   "OPENAI_API_KEY is set, else offline.")
@click.option("--base-url", default=None, help="The server, e.g. http://127.0.0.1:8000/v1 (vLLM, Ollama, llama.cpp).")
@click.option("--model", default="gpt-3.5-turbo", show_default=True, help="The model name the server knows.")
@click.option("--temperature", type=float, default=0.0, show_default=True, help="Sampling temperature.")
@click.option("--max-tokens", type=click.IntRange(1), default=256, show_default=True, help="Longest answer.")
@click.option("--timeout", type=float, default=60.0, show_default=True, help="Seconds per LLM request before a retry.")
@click.option("--from-run", default=None, help="With --llm replay: the run whose recorded exchanges answer.")
@click.option("--train-tasks", default="0:10", show_default=True,
              help="Training tasks: a range A:B of task indices of the train split, or task ids a,b,c.")
@click.option("--test-tasks", default="0:10", show_default=True, help="Test tasks, the same way, from the test split.")
@click.option("--epochs", type=click.IntRange(1), default=3, show_default=True, help="Passes over the training tasks.")
@click.option("--max-steps", type=click.IntRange(1), default=15, show_default=True, help="Step budget per episode.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seeds exploration and exemplar randomness.")
@rl_options
@matcher_option
@click.option("--similarity", type=click.Choice(["combined", "task-only", "observation-only"]),
              default="combined", show_default=True, help="Ablation: use only the task or observation terms.")
@click.option("--top", type=click.IntRange(1), default=2, show_default=True, help="Exemplars retrieved per step.")
@click.option("--no-random-exemplars", is_flag=True, help="Ablation: no random encouraged/discouraged fallbacks.")
@click.option("--no-discouraged", is_flag=True, help="Ablation: show no discouraged actions.")
@click.option("--static-exemplars", is_flag=True, help="Baseline: fixed exemplars, the memory unused.")
@click.option("--no-memory", is_flag=True, help="Baseline: no memory at all (the LLM or policy alone).")
@click.option("--pool", "pools", multiple=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Start the new run's memory from a reference pool (YAML, as import-pool reads it; "
                   "WebShop pools for webshop environments). Repeatable.")
@click.option("--resume", is_flag=True,
              help="Continue an interrupted run from its log, with the settings it was started with.")
@json_option
def run(env_name: str, db: str, run: str, llm: str | None, base_url: str | None, model: str,
        temperature: float, max_tokens: int, timeout: float, from_run: str | None, train_tasks: str, test_tasks: str, epochs: int, max_steps: int, seed: int,
        matcher: str | None, similarity: str, top: int, no_random_exemplars: bool, no_discouraged: bool,
        static_exemplars: bool, no_memory: bool, pools: tuple[Path, ...], resume: bool, as_json: bool,
        **kwargs) -> None:
    """Train a REMEMBERER agent on training tasks and test it on test tasks.

    Every step retrieves experiences from the memory, builds the prompt, asks the policy,
    acts, and appends everything to the log (retrieval, LLM exchanges, transition); the
    memory learns through the same fold replay uses. Test episodes use the memory frozen.
    Prints average reward and success rate per epoch, train and test. Ctrl-C stops after
    the current step with everything recorded; --resume continues. --pool seeds the memory
    with the reference implementation's pools (recorded as PoolImported events after the
    run's start, so replay has them too); learning continues from their values.

    \b
    Example:
      rememberer run --env webshop-mini --db demo.db --run offline-1 --llm offline --epochs 3
      rememberer run --env webshop-mini --db demo.db --run gpt --base-url http://127.0.0.1:8000/v1 --model qwen
      rememberer run --db demo.db --run again --llm replay --from-run gpt
      rememberer run --env webshop-mini --db demo.db --run seeded --pool init_pool.wq.yaml
    """
    given = pop_rl_options(kwargs)
    memory_mode = "none" if no_memory else "static" if static_exemplars else "memory"
    if pools and resume:
        raise CliError("--pool starts a new run; a resumed run's pools are in its log already")
    if pools and memory_mode != "memory":
        raise CliError(f"--pool seeds the memory, which --{'no-memory' if no_memory else 'static-exemplars'} "
                       "leaves unused")
    recorded = _recorded_run(db, run) if resume else None
    if llm is None:
        llm = recorded.options["llm"] if recorded is not None else (
            "openai" if base_url or os.environ.get("OPENAI_API_KEY") else "offline")
    if recorded is not None:
        # The run's recorded settings win: a resumed run continues the same plan.
        check_same_config(run, recorded.rl, given)
        o = recorded.options
        env_name, seed, config = recorded.environment, recorded.seed, recorded.rl
        train_tasks, test_tasks, epochs, max_steps = o["train_tasks"], o["test_tasks"], o["epochs"], o["max_steps"]
        memory_mode, top, similarity = o["memory"], o["top"], o["similarity"]
        no_random_exemplars, no_discouraged = not o["random_exemplars"], not o["discouraged"]
    try:
        env = make_env(env_name, max_steps=max_steps)
        plan = Plan(parse_tasks(train_tasks, env, "train"), parse_tasks(test_tasks, env, "test"), epochs)
        if recorded is not None:
            matcher_config = MatcherConfig.from_dict(recorded.matcher)
        else:
            preset = MatcherConfig.preset(env_format(env_name))
            matcher_config = (parse_matcher(matcher) if matcher else preset).ablate(similarity)
            config = RLConfig(**given)
    except (EnvError, TaskSpecError, MatcherConfigError) as exc:
        raise CliError(str(exc)) from None
    seeds = load_pools(pools, env_name, run)
    options = ExemplarOptions(format=env_format(env_name), top=top, random_actions=not no_random_exemplars,
                              discouraged=not no_discouraged, memory=memory_mode)
    policy = make_policy(llm, model=model, base_url=base_url, from_run=from_run, db=db,
                         temperature=temperature, max_tokens=max_tokens, timeout=timeout)
    console = Console(stderr=True)
    with SQLiteRecorder(db) as recorder:
        if recorded is None:
            if find_run_started(recorder, run) is not None:
                raise CliError(f"run {run!r} already exists in {db}: use --resume to continue it, or another --run")
            settings = {"train_tasks": train_tasks, "test_tasks": test_tasks, "epochs": epochs,
                        "max_steps": max_steps, "llm": llm, "base_url": base_url or "", "memory": memory_mode,
                        "top": top, "similarity": similarity, "random_exemplars": not no_random_exemplars,
                        "discouraged": not no_discouraged}
            if seeds:
                settings["pools"] = [seed.source for seed in seeds]
            appended = recorder.append([RunStarted(run, rl=config, matcher=matcher_config.to_dict(),
                                                   models={"policy": policy.model, "embedding": matcher_config.models},
                                                   environment=env_name, policy=policy.name, seed=seed,
                                                   options=settings), *seeds], run, 0)
        built = matcher_config.build(lambda m: Embedder(m, db=recorder.db))
        state = None
        if recorded is not None or seeds:
            state = replay_run(recorder, run, config=config,
                               similarity=ItemSimilarity(built) if config.item_capacity else None)
        if seeds:
            warn_capacity_losses(state, run, [r.position for r in appended[1:]])
        memory = LiveMemory(config, built, options, seed, state=state)
        stopping = {"now": False}

        def request_stop(signum, frame) -> None:
            if not stopping["now"]:
                stopping["now"] = True
                console.print("[yellow]stopping after the current step...[/]")

        # Installed until the results are printed (and an interrupted run has exited): a second
        # Ctrl-C changes nothing.
        previous = signal.signal(signal.SIGINT, request_stop)
        total = len(plan.episodes())
        try:
            with progress(f"run {run}", total) as advance:
                done = {"n": 0}

                def step_done(result) -> None:
                    done["n"] += 1
                    advance(done["n"])

                session = Session(recorder, run, env, policy, memory, seed=seed, max_steps=max_steps,
                                  stop=lambda: stopping["now"])
                run_plan(session, plan, resume=resume, on_episode=step_done)
            cut_short = stopping["now"]
            rows = epoch_table(recorder.read(run=run))
            if as_json:
                click.echo(json.dumps([r.to_dict() for r in rows], indent=2))
            else:
                label = "offline policy (not an LLM)" if llm == "offline" else f"{llm}: {policy.model}"
                Console().print(f"run [bold]{run}[/] on {env_name}, {label}, memory: {memory_mode}")
                print_table(rows, Console())
            if cut_short:
                interrupted(f"interrupted: continue with `rememberer run --db {db} --run {run} --resume ...`")
        except PolicyError as exc:
            raise CliError(f"{exc}; everything up to here is recorded: fix it and add --resume") from None
        finally:
            env.close()
            if signal.getsignal(signal.SIGINT) is request_stop:  # not once `interrupted` ignores Ctrl-C
                signal.signal(signal.SIGINT, previous)


@cli.command()
@db_option()
@click.argument("runs", nargs=-1, required=True)
@json_option
def report(db: str, runs: tuple[str, ...], as_json: bool) -> None:
    """Average reward and success rate per epoch of RUNS, side by side (train and test).

    \b
    Example:
      rememberer report --db demo.db memory no-memory
    """
    tables = {}
    with SQLiteRecorder(db, create=False) as recorder:
        known = recorder.runs()
        for name in runs:
            if name not in known:
                raise CliError(f"no run {name!r} in {db}; runs: {', '.join(known) or 'none'}")
            tables[name] = {(r.epoch, r.split): r for r in epoch_table(recorder.read(run=name))}
    if as_json:
        click.echo(json.dumps({n: [r.to_dict() for r in t.values()] for n, t in tables.items()}, indent=2))
        return
    table = Table("epoch", "split", *(f"{n}\nreward / success" for n in runs), header_style="bold")
    for key in sorted({k for t in tables.values() for k in t}, key=lambda k: (k[0], k[1] != "train")):
        cells = []
        for name in runs:
            row = tables[name].get(key)
            cells.append(f"{row.average_reward:.3f} / {row.success_rate:.0%}" if row else "-")
        table.add_row(str(key[0]), key[1], *cells)
    Console().print(table)
