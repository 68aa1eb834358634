"""Commands on the log itself: ingest a trace, list events, list runs, verify the chain."""

from __future__ import annotations

import json
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table
from rich.text import Text

from rememberer_tui.cli import CliError, cli
from rememberer_tui.options import db_option, json_option, pop_rl_options, rl_options
from rememberer_tui.progress import progress
from rememberer_tui.tables import emit
from store.events import EpisodeEnded, RLConfig, RunStarted, TransitionRecorded
from store.recorder import ConcurrencyConflict, Recorded, SQLiteRecorder, StreamBatch, dumps_event
from store.trace import DEFAULT_MAX_FIELD_BYTES, TraceError, parse_trace
from store.verify import verify


def find_run_started(recorder: SQLiteRecorder, run: str) -> RunStarted | None:
    first = recorder.read_stream(run)[:1]
    if first and isinstance(first[0].event, RunStarted):
        return first[0].event
    return None


def check_same_config(run: str, recorded: RLConfig, given: dict) -> None:
    """Refuse RL options that differ from those the run was started with."""
    differ = {name: value for name, value in given.items() if getattr(recorded, name) != value}
    if differ:
        asked = ", ".join(f"{k}={v}" for k, v in sorted(differ.items()))
        has = ", ".join(f"{k}={getattr(recorded, k)}" for k in sorted(differ))
        raise CliError(f"run {run!r} was started with {has}; this asks {asked}. "
                       "Use another --run, or leave those options out")


@cli.command()
@click.argument("trace", type=click.Path(path_type=Path))
@db_option(exists=False)
@click.option("--run", default="default", show_default=True, help="The run to append the episodes to.")
@rl_options
@click.option("--max-field-bytes", type=int, default=DEFAULT_MAX_FIELD_BYTES, show_default=True,
              help="Largest text field (observation, action, ...) accepted, in bytes.")
def ingest(trace: Path, db: str, run: str, max_field_bytes: int, **kwargs) -> None:
    """Append a JSON Lines TRACE (SPEC section 6) to a run, in one transaction.

    Each line is one transition: {"episode", "task", "observation", "action", "reward",
    "next_observation", "done"} with optional "reason", "truncated", "available_actions",
    "success", "task_id", "split" (train|test) and "epoch". The whole file is checked
    first: any bad line is reported with its line number and nothing is appended.
    Ingesting the same file twice appends nothing the second time. The RL options are
    recorded in the run's RunStarted; an existing run must be given the same ones.

    \b
    Example:
      rememberer ingest fixtures/traces/webshop_small.jsonl --db demo.db --run demo --gamma 0.9
    """
    given = pop_rl_options(kwargs)
    try:
        episodes = parse_trace(trace, run, max_field_bytes=max_field_bytes)
        config = RLConfig(**given)
    except TraceError as exc:
        raise CliError(str(exc)) from None
    with SQLiteRecorder(db) as recorder:
        started = find_run_started(recorder, run)
        batches = []
        if started is None:
            batches.append(StreamBatch(run, [RunStarted(
                run, rl=config, environment="trace", policy="recorded trace",
                options={"source": trace.name})], 0))
        else:
            check_same_config(run, started.rl, given)
        batches += [StreamBatch(f"{run}/{ep.episode}", ep.events, 0) for ep in episodes]
        before = recorder.max_position()
        try:
            recorded = recorder.append_batches(batches)
        except ConcurrencyConflict as exc:
            raise CliError(f"{trace}: episode {exc.stream.split('/', 1)[-1]!r} is already in run "
                           f"{run!r} with other content; nothing was ingested") from None
    new = [r for r in recorded if r.position > before]
    transitions = sum(isinstance(r.event, TransitionRecorded) for r in new)
    if new:
        click.echo(f"ingested {len(episodes)} episodes, {transitions} transitions into run {run!r} "
                   f"(positions {new[0].position}-{new[-1].position})")
    else:
        click.echo(f"nothing new: {trace} was already ingested into run {run!r}")


def config_summary(config: RLConfig) -> str:
    return " ".join(f"{k}={v}" for k, v in config.to_dict().items() if v is not None)


def _summary(recorded: Recorded) -> str:
    event = recorded.event
    if isinstance(event, TransitionRecorded):
        flag = " [terminated]" if event.terminated else " [truncated]" if event.truncated else ""
        return f"step {event.step}: {event.action!r} -> r={event.reward:g}{flag}"
    if isinstance(event, EpisodeEnded):
        return f"return {event.total_reward:g}, {'success' if event.success else 'failure'}"
    if isinstance(event, RunStarted):
        return f"{event.environment or '-'} / {event.policy or '-'} / {config_summary(event.rl)}"
    for name in ("task", "source", "model"):
        if hasattr(event, name):
            return f"{name}: {str(getattr(event, name))[:80]!r}"
    return ""


@cli.command()
@db_option()
@json_option
@click.option("--after", type=int, default=0, show_default=True, help="Only events after this position.")
@click.option("--limit", type=int, default=None, help="At most this many events.")
@click.option("--run", default=None, help="Only this run's events.")
@click.option("--follow", "-f", is_flag=True, help="Keep printing events as they are appended (Ctrl-C stops).")
def log(db: str, as_json: bool, after: int, limit: int | None, run: str | None, follow: bool) -> None:
    """List the events of the log in position order.

    With --json, one JSON object per line (position, stream, version, type,
    schema_version, event_id, recorded_at, hash, payload).

    \b
    Example:
      rememberer log --db demo.db --after 100 --limit 20
      rememberer log --db demo.db --json --run demo | jq .type
    """
    if after < 0 or (limit is not None and limit < 0):
        raise CliError("--after and --limit must not be negative")
    with SQLiteRecorder(db, create=False) as recorder:
        events = recorder.tail(after, run=run) if follow else recorder.read(after, limit, run=run)
        if as_json:
            try:
                for count, recorded in enumerate(events, start=1):
                    click.echo(dumps_event(recorded))
                    if follow and limit is not None and count >= limit:
                        break
            except KeyboardInterrupt:
                pass
            return
        if follow:
            console = Console()
            try:
                for recorded in events:
                    console.print(f"{recorded.position:>7} {recorded.stream:<24} {recorded.type:<20} "
                                  f"{_summary(recorded)}", markup=False, highlight=False)
            except KeyboardInterrupt:
                pass
            return
        emit(("pos", "stream", "v", "type", "summary"),
             ((r.position, r.stream, r.version, r.type, _summary(r)) for r in events),
             everything="narrow it with --after/--limit/--run, or pipe the output (tab-separated) to get them all")


@cli.command()
@db_option()
@json_option
def runs(db: str, as_json: bool) -> None:
    """List the runs in a database with their RL configuration.

    \b
    Example:
      rememberer runs --db demo.db
    """
    with SQLiteRecorder(db, create=False) as recorder:
        rows = []
        for name in recorder.runs():
            started = find_run_started(recorder, name)
            rows.append({"run": name, "environment": started.environment if started else "",
                         "policy": started.policy if started else "",
                         "rl": started.rl.to_dict() if started else {}})
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    table = Table("run", "environment", "policy", "RL config", box=None, header_style="bold")
    for row in rows:
        table.add_row(Text(row["run"]), Text(row["environment"]), Text(row["policy"]),
                      " ".join(f"{k}={v}" for k, v in row["rl"].items() if v is not None))
    Console().print(table)


def _checkpoint(value: str | None) -> tuple[int, str] | None:
    if value is None:
        return None
    position, _, hash_ = value.partition(":")
    if not position.isdigit() or len(hash_) != 64:
        raise CliError(f"--checkpoint must be POSITION:SHA256HEX, got {value!r}")
    return int(position), hash_


@cli.command("verify")
@db_option()
@click.option("--checkpoint", default=None, metavar="POSITION:HASH",
              help="A chain head kept elsewhere (as printed by an earlier verify) to compare against.")
def verify_cmd(db: str, checkpoint: str | None) -> None:
    """Recompute the hash chain of the whole log; exit 1 naming the first bad position.

    Detects a row altered in place (even with the append-only triggers dropped), an event
    removed from the middle, and a truncated tail (against the checkpoint stored beside
    the rows, or one given with --checkpoint). Prints the chain head on success: keep it
    somewhere else to check against later.

    \b
    Example:
      rememberer verify --db demo.db
      rememberer verify --db demo.db --checkpoint 1234:5f0c...e9
    """
    expect = _checkpoint(checkpoint)
    with SQLiteRecorder(db, create=False) as recorder:
        with progress("verifying", recorder.max_position()) as advance:
            result = verify(recorder, expect=expect, progress=advance)
    if not result.ok:
        click.echo(result.message(), err=True)
        raise SystemExit(1)
    click.echo(result.message())
