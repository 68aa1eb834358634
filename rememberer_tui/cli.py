"""The `rememberer` command: one click group; each area's commands live in commands/."""

from __future__ import annotations

import signal
import sqlite3
from typing import NoReturn

import click

from replay.fold import FoldError
from store.events import EventValidationError
from store.recorder import StoreError


class CliError(click.ClickException):
    """A one-line error for the user, exit status 1."""


def interrupted(message: str = "interrupted") -> NoReturn:
    """Exit 130 after Ctrl-C with `message` on stderr; a second Ctrl-C no longer cuts the
    exit short (into a traceback)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    click.echo(message, err=True)
    raise SystemExit(130)


class Group(click.Group):
    """Turns the store's, the events' and the fold's errors (and a write refused by a
    read-only database) into one-line messages and exit 1, and Ctrl-C into exit 130."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt:
            interrupted()
        except (StoreError, EventValidationError, FoldError) as exc:
            raise CliError(str(exc)) from None
        except sqlite3.OperationalError as exc:
            if "readonly" not in str(exc):
                raise
            raise CliError(f"the database is read-only here ({exc}): this command writes to it") from None


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="rememberer")
def cli() -> None:
    """rememberer: an auditable, event-sourced experience memory for LLM agents.

    Every interaction is an immutable event in one SQLite file; every Q-table is rebuilt
    by replaying them.

    \b
    Example:
      rememberer ingest fixtures/traces/webshop_small.jsonl --db demo.db --run demo
      rememberer qtable --db demo.db --run demo
    """


def _register() -> None:
    # Each module adds its commands to `cli`; imported here so `rememberer --help` lists all.
    from rememberer_tui.commands import bench_cmds, events_cmds  # noqa: F401
    from rememberer_tui.commands import pool_cmds  # noqa: F401
    from rememberer_tui.commands import retrieve_cmds  # noqa: F401
    from rememberer_tui.commands import tui_cmds  # noqa: F401
    from rememberer_tui.commands import replay_cmds  # noqa: F401
    from rememberer_tui.commands import run_cmds  # noqa: F401


_register()


def main() -> None:
    cli(prog_name="rememberer")

