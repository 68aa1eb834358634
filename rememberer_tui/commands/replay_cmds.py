"""Commands that rebuild Q-tables from the log: qtable, diff, snapshot.

They only read the events. A what-if replay (RL options on the command line) folds the
same events under another config and writes nothing; `snapshot` writes only to the
disposable snapshots table.
"""

from __future__ import annotations

import json
import signal

import attrs
import click

from rememberer_tui.cli import CliError, cli, interrupted
from rememberer_tui.commands.events_cmds import config_summary
from rememberer_tui.options import db_option, json_option, pop_rl_options, rl_options, run_option
from rememberer_tui.progress import progress
from rememberer_tui.tables import emit
from replay import snapshots
from replay.diff import TableDiff, diff_rows
from replay.fold import FoldState, json_text, qtable_rows
from replay.projection import (
    DEFAULT_SNAPSHOT_EVERY,
    ReplayStats,
    qtable_json,
    replay_run,
    run_similarity,
    resolve_run,
    run_config,
    run_started,
    run_length,
    write_snapshots,
)
from store.events import RLConfig
from store.recorder import SQLiteRecorder


def _warn(message: str) -> None:
    click.echo(f"warning: {message}", err=True)


def _what_if(base: RLConfig, overrides: dict) -> RLConfig:
    """The run's config with the RL options given on the command line changed."""
    return attrs.evolve(base, **overrides) if overrides else base


def _changes(base: RLConfig, config: RLConfig) -> str:
    changed = [f"{k} {getattr(base, k)} -> {v}" for k, v in config.to_dict().items() if getattr(base, k) != v]
    return f" (what-if: {', '.join(changed)})" if changed else ""


# A replay folding more events than this from the run's start suggests taking snapshots.
HINT_EVENTS = 100_000


def replay_shown(recorder: SQLiteRecorder, run: str, upto: int | None, config: RLConfig,
                 stats: ReplayStats | None = None, *, use_snapshots: bool = True) -> FoldState:
    """`replay_run` under `config` with the run's own similarity, warning about damaged
    snapshots, with a progress bar (on a terminal) while it folds."""
    total = upto if upto is not None else recorder.max_position()
    with progress(f"replaying run {run}", total) as advance:
        return replay_run(recorder, run, upto=upto, config=config, use_snapshots=use_snapshots,
                          similarity=run_similarity(recorder, run, config), report=_warn,
                          stats=stats, progress=advance)


@cli.command()
@db_option()
@run_option()
@click.option("--at", "at", type=int, default=None,
              help="Rebuild the table as of this log position: the first AT events (default: all).")
@json_option
@click.option("--no-snapshots", is_flag=True, help="Fold from the first event even where snapshots exist.")
@rl_options
def qtable(db: str, run: str | None, at: int | None, as_json: bool, no_snapshots: bool, **kwargs) -> None:
    """Rebuild a run's Q-table by replaying its events and print it.

    With RL options the same events are replayed under a what-if config (nothing is
    written). --json prints the export of SPEC section 6: a JSON array of {"task",
    "observation", "action", "q", "visits", "mean_reward"} sorted by (task, observation,
    action), the same bytes every time.

    \b
    Example:
      rememberer qtable --db demo.db --run memory
      rememberer qtable --db demo.db --run memory --at 120 --gamma 0.9 --json
    """
    with SQLiteRecorder(db, create=False) as recorder:
        run = resolve_run(recorder, run)
        base = run_config(recorder, run)
        config = _what_if(base, pop_rl_options(kwargs))
        stats = ReplayStats()
        state = replay_shown(recorder, run, at, config, stats, use_snapshots=not no_snapshots)
        position = at if at is not None else recorder.max_position()
    if stats.events_folded >= HINT_EVENTS and stats.snapshot_position is None and not no_snapshots:
        options = _changes(base, config) and " (with the same RL options)"
        _warn(f"replayed {stats.events_folded:,} events from the start of run {run!r}: "
              f"`rememberer snapshot --db {db} --run {run}`{options} lets later replays start near "
              "their position")
    if as_json:
        click.echo(qtable_json(state))
        return
    _print_table(state)
    actions = sum(len(r.actions) for r in state.records.values())
    click.echo(f"{len(state.records)} records, {actions} actions; run {run!r} as of position {position}"
               f"; {config_summary(config)}{_changes(base, config)}")
    if stats.snapshot_position:  # on stderr: stdout is the same with or without snapshots
        click.echo(f"replayed from the snapshot at {stats.snapshot_position}", err=True)


_ALL_ROWS = "pipe the output (tab-separated) or add --json to get them all"


def _print_table(state: FoldState) -> None:
    emit(("task", "observation", "action", "Q", "visits", "mean reward"),
         [(row["task"], row["observation"], row["action"], row["q"], row["visits"], row["mean_reward"])
          for row in qtable_rows(state)], everything=_ALL_ROWS)


@cli.command()
@db_option()
@run_option()
@click.option("--at", "at", type=int, default=None,
              help="Side A: the table as of this position (default: the end of the log), "
                   "under the run's own config.")
@click.option("--against", "against", type=int, default=None,
              help="Side B: the table as of this position (default: the same as --at).")
@json_option
@rl_options
def diff(db: str, run: str | None, at: int | None, against: int | None, as_json: bool, **kwargs) -> None:
    """Compare two Q-tables of a run: side A against side B.

    Side A is the run's table as of --at under the run's own config. Side B is the table
    as of --against (default: --at) under the run's config with the RL options given
    here changed (a what-if replay; nothing is written). Give --against, RL options, or
    both. Prints the records added and removed, then every action added, removed or
    changed with its Q delta (B - A; an absent action counts as Q 0), largest |delta| first.

    \b
    Example:
      rememberer diff --db demo.db --run memory --at 100 --against 200
      rememberer diff --db demo.db --run memory --at 200 --gamma 0.5 --json
    """
    overrides = pop_rl_options(kwargs)
    with SQLiteRecorder(db, create=False) as recorder:
        run = resolve_run(recorder, run)
        base = run_config(recorder, run)
        config = _what_if(base, overrides)
        end = recorder.max_position()
        position_a = at if at is not None else end
        position_b = against if against is not None else position_a
        if position_a == position_b and config == base:
            raise CliError("nothing to compare: give --against POSITION, or RL options that differ "
                           "from the run's config")
        rows_a = qtable_rows(replay_shown(recorder, run, position_a, base))
        result = diff_rows(rows_a, qtable_rows(replay_shown(recorder, run, position_b, config)))
    sides = {"a": {"position": position_a, "config": base.to_dict()},
             "b": {"position": position_b, "config": config.to_dict()}}
    if as_json:
        click.echo(json_text({**sides, **result.to_dict()}, indent=1))
        return
    click.echo(f"A: run {run!r} as of position {position_a}; {config_summary(base)}")
    click.echo(f"B: run {run!r} as of position {position_b}; {config_summary(config)}{_changes(base, config)}")
    _print_diff(result)


def _print_diff(result: TableDiff) -> None:
    for label, keys in (("records added", result.records_added), ("records removed", result.records_removed)):
        if keys:
            emit(("task", "observation"), keys, title=f"{label} ({len(keys)})", everything=_ALL_ROWS)
    if result.actions:
        emit(("", "task", "observation", "action", "Q A", "Q B", "delta", "visits A", "visits B"),
             [(change.status, change.task, change.observation, change.action, change.q_a, change.q_b,
               change.delta, change.visits_a, change.visits_b) for change in result.actions],
             title="actions, largest |delta| first", formats={"delta": "+.6g"}, everything=_ALL_ROWS)
    click.echo(f"records: {len(result.records_added)} added, {len(result.records_removed)} removed; "
               f"actions: {result.count('added')} added, {result.count('removed')} removed, "
               f"{result.count('changed')} changed, {result.unchanged} unchanged")


@cli.command()
@db_option()
@run_option()
@click.option("--every", type=int, default=DEFAULT_SNAPSHOT_EVERY, show_default=True,
              help="Save the fold state after every N events of the run (and at its end).")
@click.option("--drop", is_flag=True,
              help="Delete snapshots instead: the run's if --run is given, else every run's.")
@click.option("--list", "show", is_flag=True, help="List the stored snapshots instead.")
@rl_options
def snapshot(db: str, run: str | None, every: int, drop: bool, show: bool, **kwargs) -> None:
    """Save fold states along a run so that qtable and diff need not replay from the start.

    Snapshots are derived and disposable: they live in their own table, never in the event
    log, are used only for the same run, RL config (under an item capacity, also the run's
    matcher, which decides evictions) and fold code version, and are ignored (with a
    warning) if their content no longer matches its hash. Dropping them changes
    no result, only the time a replay takes. RL options save snapshots for that what-if
    config instead of the run's own.

    \b
    Example:
      rememberer snapshot --db demo.db --run memory --every 50000
      rememberer snapshot --db demo.db --list
      rememberer snapshot --db demo.db --drop
    """
    overrides = pop_rl_options(kwargs)
    if drop and show:
        raise CliError("give --drop or --list, not both")
    if (drop or show) and overrides:
        raise CliError("RL options choose the config to save snapshots for; --drop and --list "
                       "act on every config of the run")
    with SQLiteRecorder(db, create=False) as recorder:
        if run is not None:
            run_started(recorder, run)  # an unknown run is an error, not "no snapshots"
        if drop:
            count = snapshots.drop(recorder, run)
            click.echo(f"dropped {count} snapshot{'s' if count != 1 else ''}")
            return
        if show:
            _print_snapshots(snapshots.listing(recorder, run))
            return
        run = resolve_run(recorder, run)
        config = _what_if(run_config(recorder, run), overrides)
        # Ctrl-C asks the fold to stop at its next check (a fraction of a second): the saves
        # done by then are exactly the snapshots stored, and the message can say which.
        stopping = {"now": False}

        def request_stop(signum, frame) -> None:
            stopping["now"] = True

        previous = signal.signal(signal.SIGINT, request_stop)
        try:
            with progress(f"folding run {run}", run_length(recorder, run)) as advance:
                saved = write_snapshots(recorder, run, every=every, config=config, progress=advance,
                                        stop=lambda: stopping["now"])
        finally:
            if not stopping["now"]:
                signal.signal(signal.SIGINT, previous)
        if stopping["now"]:
            interrupted(f"interrupted: {len(saved)} snapshot{'s' if len(saved) != 1 else ''} of run {run!r} saved"
                        + (f", the last at position {saved[-1]}" if saved else "")
                        + "; each is complete and used by replays. Run the command again to save them all")
    where = f" at position{'s' if len(saved) != 1 else ''} {', '.join(map(str, saved))}" if len(saved) <= 10 \
        else f" from position {saved[0]} to {saved[-1]}"
    click.echo(f"saved {len(saved)} snapshot{'s' if len(saved) != 1 else ''} of run {run!r}"
               f"{where if saved else ''}; {config_summary(config)}")


def _print_snapshots(rows: list[snapshots.Snapshot]) -> None:
    if not rows:
        click.echo("no snapshots")
        return
    emit(("run", "position", "records", "bytes", "config", "fold version"),
         [(row.run, row.position, row.records, row.size,
           config_summary(RLConfig.from_dict(json.loads(row.config)["rl"])), row.fold_version) for row in rows])
