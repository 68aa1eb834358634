"""`rememberer import-pool` / `export-pool`: the reference implementation's YAML pools in
and out of a run (the format and its safety rules live in replay/pools.py)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import click

from rememberer_tui.cli import CliError, cli
from rememberer_tui.commands.events_cmds import check_same_config, find_run_started
from rememberer_tui.commands.replay_cmds import replay_shown
from rememberer_tui.options import db_option, pop_rl_options, rl_options, run_option
from replay.fold import FoldState
from replay.pools import FORMATS, PoolFormatError, environment_format, export_pool, load_pool, suffix_format
from replay.projection import run_config
from replay.trail import Eviction, Pruning
from store.events import PoolImported, RLConfig, RunStarted
from store.recorder import SQLiteRecorder


def format_option(help: str):
    return click.option("--format", "format_", type=click.Choice(FORMATS), default=None, help=help)


def run_formats(recorder: SQLiteRecorder, run: str, at: int | None = None) -> set[str]:
    """The pool formats a run's history fixes: its imported pools', else its environment's
    (a webshop-mini run holds WebShop observations); empty when nothing says."""
    stream = [r.event for r in recorder.read_stream(run) if at is None or r.position <= at]
    formats = {e.format for e in stream if isinstance(e, PoolImported)}
    if not formats and stream and isinstance(stream[0], RunStarted):
        formats = {environment_format(stream[0].environment)} - {None}
    return formats


@cli.command("import-pool")
@click.argument("pool", type=click.Path(dir_okay=False, path_type=Path))
@db_option(exists=False)
@run_option(required=True)
@format_option("The pool's format (default: told from the content, else the .wq.yaml/.q.yaml suffix).")
@rl_options
def import_pool(pool: Path, db: str, run: str, format_: str | None, **kwargs) -> None:
    """Seed a run with a reference POOL (YAML of OpenDFM/Rememberer's history-pools).

    Only !!python/tuple is accepted; any other !!python/... tag is refused, never
    executed. Appends, in one transaction, the run's RunStarted if the run is new (with
    the RL options given) and one PoolImported event. The event id comes from the run
    and the file's sha256, so importing the same file into a run again appends nothing.
    The run's --action-capacity and --item-capacity apply to the pool as to anything
    learned; a warning says how many actions were pruned and records evicted or refused.

    \b
    Example:
      rememberer import-pool init_pool.wq.yaml --db demo.db --run shop
      rememberer import-pool annotated_pool-auto.q.yaml --db demo.db --run wiki --gamma 0.9
    """
    given = pop_rl_options(kwargs)
    config = RLConfig(**given)
    try:
        event = load_pool(pool, format_, run=run)
    except PoolFormatError as exc:
        raise CliError(str(exc)) from None
    with SQLiteRecorder(db) as recorder:
        stream = recorder.read_stream(run)
        started = find_run_started(recorder, run)
        events = [event]
        if started is None:
            started = RunStarted(run, rl=config, environment=event.format, policy="imported pool",
                                 options={"pool": event.source})
            events.insert(0, started)
        else:
            check_same_config(run, started.rl, given)
            formats = run_formats(recorder, run)
            if formats and event.format not in formats:
                raise CliError(f"{pool} is a {event.format} pool, but run {run!r} holds "
                               f"{' and '.join(sorted(formats))} states; import it into another run")
        before = next((r for r in stream if r.event.event_id == event.event_id), None)
        if before is not None:
            click.echo(f"nothing new: {pool} was already imported into run {run!r} "
                       f"(position {before.position})")
            return
        position = recorder.append(events, run, expected_version=len(stream))[-1].position
        click.echo(f"imported {len(event.records)} {event.format} records from {pool} into run {run!r} "
                   f"(position {position})")
        if _may_lose(event, started.rl, fresh=len(events) == 2):
            warn_capacity_losses(replay_shown(recorder, run, position, started.rl), run, [position])


def _may_lose(event: PoolImported, config: RLConfig, fresh: bool) -> bool:
    """Whether the run's capacities can keep part of the pool out (worth a replay to tell)."""
    actions, items = config.action_capacity, config.item_capacity
    return ((actions is not None and any(len(seed.actions) > actions for seed in event.records))
            or (items is not None and (not fresh or len(event.records) > items)))


def warn_capacity_losses(state: FoldState, run: str, positions: list[int]) -> None:
    """Say what the run's capacities kept out of the pools imported at `positions`: the fold
    applies them to a pool as to anything learned (the reference would raise them instead)."""
    config = state.config
    facts = [f for f in state.facts if f.position in positions]
    pruned = sum(isinstance(f, Pruning) for f in facts)
    kinds = Counter(f.kind for f in facts if isinstance(f, Eviction))
    losses = []
    if pruned:
        losses.append(f"{pruned} action{'s' if pruned != 1 else ''} pruned "
                      f"(action capacity {config.action_capacity}, lowest mean reward first)")
    held = [f"{n} record{'s' if n != 1 else ''} {kind}" for kind in ("refused", "evicted") if (n := kinds[kind])]
    if held:
        losses.append(f"{' and '.join(held)} (item capacity {config.item_capacity})")
    if losses:
        click.echo(f"warning: run {run!r} applied its capacities to the pool: {'; '.join(losses)}; "
                   "a run with larger capacities keeps all of it", err=True)


def load_pools(paths: Sequence[Path], environment: str, run: str) -> list[PoolImported]:
    """The pools an agent run starts from (`run --pool`), each of its environment's format."""
    wanted = environment_format(environment)
    if wanted is None:
        raise CliError(f"--pool: environment {environment!r} has no reference pool format "
                       f"(pools are {' and '.join(FORMATS)} memories)")
    events = []
    for path in paths:
        try:
            event = load_pool(path, run=run)
        except PoolFormatError as exc:
            raise CliError(str(exc)) from None
        if event.format != wanted:
            raise CliError(f"{path} is a {event.format} pool, but {environment} needs {wanted} pools")
        same = next((paths[i] for i, e in enumerate(events) if e.event_id == event.event_id), None)
        if same is not None:
            raise CliError(f"--pool {path} holds the same pool as --pool {same}: give it once")
        events.append(event)
    return events


def _export_format(recorder: SQLiteRecorder, run: str, at: int | None, given: str | None, out: str) -> str:
    """--format if given (and the run's pools agree), else the run's own format, else the
    one the --out suffix names."""
    formats = run_formats(recorder, run, at)
    if given is not None:
        if formats and given not in formats:
            raise CliError(f"run {run!r} holds {' and '.join(sorted(formats))} pools: exporting it as "
                           f"{given} would mix two key formats")
        return given
    if len(formats) == 1:
        return formats.pop()
    named = suffix_format(out)
    if named is not None and not formats:
        return named
    raise CliError(f"cannot tell the pool format of run {run!r}; pass --format webshop|wikihow"
                   + ("" if formats else " or name the file .wq.yaml / .q.yaml"))


@cli.command("export-pool")
@db_option()
@run_option(required=True)
@click.option("--out", required=True, type=click.Path(dir_okay=False, allow_dash=True),
              help="The YAML file to write ('-' for standard output).")
@click.option("--at", type=click.IntRange(min=0), default=None,
              help="Export the memory as of this log position (default: the end).")
@format_option("The pool's format (default: the run's pools' or environment's, else the --out "
               "suffix .wq.yaml / .q.yaml).")
def export_pool_cmd(db: str, run: str, out: str, at: int | None, format_: str | None) -> None:
    """Replay a run and write its memory as a reference pool (YAML, keys as !!python/tuple).

    Imported records keep their original keys and ids; records learned since get keys
    composed back from their task and observation and the next free ids. The reference
    implementation loads the file as it loads its own pools.

    \b
    Example:
      rememberer export-pool --db demo.db --run shop --out shop.wq.yaml
      rememberer export-pool --db demo.db --run wiki --out - --at 120
    """
    with SQLiteRecorder(db, create=False) as recorder:
        config = run_config(recorder, run)
        format_ = _export_format(recorder, run, at, format_, out)
        state = replay_shown(recorder, run, at, config)
    try:
        if out == "-":
            export_pool(state.records.values(), click.get_text_stream("stdout"), format_)
            return
        count = export_pool(state.records.values(), out, format_)
    except PoolFormatError as exc:
        raise CliError(f"run {run!r}: {exc}") from None
    except OSError as exc:
        raise CliError(f"{out}: {exc.strerror}") from None
    click.echo(f"exported {count} record{'s' if count != 1 else ''} of run {run!r} to {out}")
