"""`rememberer tui FILE.db`: browse runs, episodes and steps; follow a run being written."""

from __future__ import annotations

from pathlib import Path

import click

from rememberer_tui.cli import cli


@cli.command()
@click.argument("database", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@click.option("--light", is_flag=True, help="Start with the light theme (t switches).")
@click.option("--play-interval", type=click.FloatRange(min=0.05), default=1.0, show_default=True,
              help="Seconds between steps when an episode plays (space).")
@click.option("--no-follow", is_flag=True,
              help="Do not watch the database for events other processes append.")
def tui(database: Path, light: bool, play_interval: float, no_follow: bool) -> None:
    """Open the terminal UI on DATABASE: runs, then a run's episodes, then one episode
    step by step with the Q-values its memory held at that moment.

    From the runs screen, m opens the run's memory at any position of its history
    ([ ] one event, { } one episode, < > one epoch, g go to a position; enter on an
    action shows every update that made its Q), d the diff of the last epoch, c the
    learning curves. Screens update as another process (an agent run, an ingest) appends
    events; a status line says whether the hash chain verifies.
    Keys: enter opens, escape goes back, ? lists every key, x exports, q quits.

    \b
    Example:
      rememberer tui demo.db
      rememberer tui demo.db --light --play-interval 0.3
    """
    from rememberer_tui.app import make_app

    app = make_app(database, theme="textual-light" if light else None,
                   play_interval=play_interval, poll_interval=None if no_follow else 0.5)
    app.run()
