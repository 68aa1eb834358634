"""`rememberer retrieve`: what the memory returns for a query, and the prompt it makes."""

from __future__ import annotations

import json
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from rememberer_tui.cli import CliError, cli
from rememberer_tui.options import db_option, json_option, matcher_option, parse_matcher, run_option
from replay.embeddings import EmbeddingError, Embedder
from replay.exemplars import FORMATS, MEMORY_MODES, ExemplarOptions, build_prompt
from replay.index import RetrievalIndex
from replay.matchers import ABLATIONS, MatcherConfig
from replay.projection import replay_run, resolve_run, run_started
from replay.retrieval import ItemSimilarity, retrieve
from store.events import PoolImported, RunStarted
from store.recorder import SQLiteRecorder


def run_format(recorder: SQLiteRecorder, started: RunStarted) -> str:
    """The prompt format of a run: its environment's, else its first imported pool's."""
    for format in FORMATS:
        if started.environment.startswith(format):
            return format
    for recorded in recorder.read_stream(started.run):
        if isinstance(recorded.event, PoolImported):
            return recorded.event.format
    return "generic"


def matcher_config(started: RunStarted, format: str, override: str | None) -> MatcherConfig:
    """`--matcher` if given, else the run's recorded config; an empty one means the
    format's preset."""
    if override is not None:
        return parse_matcher(override)
    return MatcherConfig.from_dict(started.matcher) if started.matcher else MatcherConfig.preset(format)


def _read_observation(value: str) -> str:
    if not value.startswith("@"):
        return value
    path = Path(value[1:])
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise CliError(f"--observation {value}: {exc.strerror or exc}") from None


def _echo_table(results, position: int) -> None:
    table = Table(title=f"retrieved at position {position}", show_lines=True)
    for column in ("#", "score", "per matcher", "visits", "task", "observation", "actions (Q)"):
        table.add_column(column, overflow="fold")
    for rank, item in enumerate(results, 1):
        record = item.record
        first_line = next((line for line in record.observation.splitlines() if line.strip()), "")
        table.add_row(
            str(rank), f"{item.score:.4f}",
            "\n".join(f"{name}: {value:.4f}" for name, value in item.scores.items()),
            str(item.visits), record.task[:120], first_line[:80],
            "\n".join(f"{action[:60]}: {stats.q:.4g}" for action, stats in record.actions.items()),
        )
    Console(width=160).print(table)


@cli.command("retrieve")
@db_option()
@run_option()
@click.option("--task", required=True, help="The query's task text.")
@click.option("--observation", required=True, help="The query's observation text, or @FILE to read it from FILE.")
@click.option("--at", "at", type=int, default=None, help="Use the memory as of this log position (default: all of it).")
@click.option("--top", type=click.IntRange(min=1), default=2, show_default=True, help="How many records (m).")
@json_option
@click.option("--exemplars", is_flag=True, help="Print the exact prompt the agent would get instead.")
@click.option("--format", "format_", type=click.Choice(("auto", *FORMATS)), default="auto", show_default=True,
              help="Prompt format and matcher preset; auto: the run's environment or imported pool.")
@matcher_option
@click.option("--similarity", type=click.Choice(ABLATIONS), default="combined", show_default=True,
              help="Ablation: use only the task's or only the observation's matchers.")
@click.option("--memory", type=click.Choice(MEMORY_MODES), default="memory", show_default=True,
              help="Ablation: exemplars from the memory, fixed (static) ones, or none.")
@click.option("--no-random", is_flag=True, help="Ablation: no random encouraged/discouraged actions.")
@click.option("--no-discouraged", is_flag=True, help="Ablation: show no discouraged actions.")
@click.option("--budget", type=click.IntRange(min=1), default=3700, show_default=True,
              help="Token budget of the whole prompt (tiktoken cl100k_base, or ~4 characters a token offline).")
@click.option("--templates", type=click.Path(file_okay=False, exists=True, path_type=Path), default=None,
              help="A directory of template files overriding the packaged ones by name.")
def retrieve_command(db: str, run: str | None, task: str, observation: str, at: int | None, top: int,
                     as_json: bool, exemplars: bool, format_: str, matcher: str | None, similarity: str,
                     memory: str, no_random: bool, no_discouraged: bool, budget: int,
                     templates: Path | None) -> None:
    """Show the records the memory retrieves for a (task, observation) query.

    Replays the run (to --at if given), scores every record with the run's matchers and
    prints the best --top with each matcher's score and their Q-values. With --exemplars,
    prints the prompt the agent would get: the exemplars with encouraged and discouraged
    actions, seeded by the run's seed and the position the memory was read at.

    \b
    Example:
      rememberer retrieve --db demo.db --run wiki --task "Search an article to learn how to hide gauges." --observation @screen.txt
      rememberer retrieve --db demo.db --run shop --task "i need a red sandal" --observation @page.txt --exemplars --at 120
    """
    observation = _read_observation(observation)
    with SQLiteRecorder(db, create=False) as recorder:
        run = resolve_run(recorder, run)
        started = run_started(recorder, run)
        format = run_format(recorder, started) if format_ == "auto" else format_
        config = matcher_config(started, format, matcher).ablate(similarity)
        try:
            combined = config.build(lambda model: Embedder(model, recorder.db))
            eviction = ItemSimilarity(combined) if started.rl.item_capacity is not None else None
            state = replay_run(recorder, run, upto=at, similarity=eviction)
            index = RetrievalIndex.build(state.records.values(), combined)
            if exemplars:
                options = ExemplarOptions(format=format, top=top, budget=budget, random_actions=not no_random,
                                          discouraged=not no_discouraged, memory=memory, templates=templates)
                prompt = build_prompt(index, task, observation, seed=started.seed, position=state.position,
                                      options=options)
            else:
                results = retrieve(index, task, observation, top)
        except EmbeddingError as exc:
            raise CliError(str(exc)) from None
    if exemplars:
        if prompt.warning:
            click.echo(f"note: {prompt.warning}", err=True)
        if as_json:
            click.echo(json.dumps({
                "run": run, "position": state.position, "format": format, "matcher": config.to_dict(),
                "tokens": prompt.tokens, "prompt": prompt.text,
                "exemplars": [{**e.retrieved.to_dict(), "encouraged": [a.line() for a in e.encouraged],
                               "discouraged": [a.line() for a in e.discouraged]} for e in prompt.exemplars],
            }, indent=2, ensure_ascii=False))
        else:
            click.echo(prompt.text, nl=False)
    elif as_json:
        click.echo(json.dumps({"run": run, "position": state.position, "matcher": config.to_dict(),
                               "records": [r.to_dict() for r in results]}, indent=2, ensure_ascii=False))
    elif not results:
        click.echo(f"the memory of run {run!r} is empty at position {state.position}")
    else:
        _echo_table(results, state.position)
